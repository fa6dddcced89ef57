"""End to end: `leadflow serve` as a real uvicorn process on a free loopback port; events
posted over HTTP are read back, and the server stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from leadflow.access.service import create_key
from tests.system import free_port

pytestmark = pytest.mark.slow


def _wait_until_ready(proc: subprocess.Popen[bytes], base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not answer /health in time")


@pytest.fixture
def server(workspace, cli_env, tmp_path):
    port = free_port()
    leadflow = Path(sys.executable).with_name("leadflow")
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(leadflow), "serve", "--port", str(port)],
            env={**os.environ, **cli_env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(proc, base)
        yield proc, base, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=15)


def test_events_posted_over_http_are_read_back(server, workspace):
    proc, base, log = server
    key = create_key(workspace.db, workspace.clock, name="e2e", role="admin").plaintext
    headers = {"Authorization": f"Bearer {key}"}
    events = [
        {"type": "page_view", "email": "ann@acme.example", "idempotency_key": f"e2e-{i}"}
        for i in range(3)
    ]

    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        one = client.post("/events", json={"type": "demo_requested", "email": "ann@acme.example"})
        batch = client.post("/events/batch", json={"events": events})
        retried = client.post("/events/batch", json={"events": events})
        timeline = client.get("/contacts/ann@acme.example/activity").json()
        refused = client.get("/contacts", headers={"Authorization": "Bearer wrong"})

    proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it was stopped by.
    assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
    output = log.read_text()
    assert "Application shutdown complete" in output
    assert "Traceback" not in output
    assert one.status_code == 200
    assert one.json()["duplicate"] is False
    assert batch.json()["recorded"] == 3
    assert retried.json()["duplicates"] == 3
    assert [a["type"] for a in timeline["items"]] == ["page_view"] * 3 + ["demo_requested"]
    assert refused.status_code == 401


def test_a_serving_process_freezes_start_up_objects_and_collects_less_often():
    # In a process of its own: freezing the collector would change the test run's.
    code = (
        "import gc, leadflow.api.app\n"
        "from leadflow.memory import SERVING_GC_THRESHOLDS, tune_gc_for_serving\n"
        "tune_gc_for_serving()\n"
        "assert gc.get_threshold() == SERVING_GC_THRESHOLDS, gc.get_threshold()\n"
        "assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
