"""Rate limits shared by several server processes through a real Redis server on loopback
(``LEADFLOW_RATE_LIMIT_STORAGE=redis://...``): two limiters, as two processes would hold,
count together.

Without ``redis-server`` on the PATH the tests skip, unless LEADFLOW_REQUIRE_REDIS=1 (CI,
whose .ci/run installs Debian's package) makes that a failure.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from leadflow.capture.guard import RateLimiter, RateLimitExceeded
from leadflow.settings import Settings
from tests.system import free_port, unavailable

REQUIRED = "LEADFLOW_REQUIRE_REDIS"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        unavailable(REQUIRED, "redis-server is missing: install Debian's redis-server package")
    pytest.importorskip("redis", reason="the redis client (pip install redis)")
    port = free_port()
    process = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    unavailable(REQUIRED, "redis-server did not start")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_the_setting_accepts_a_redis_server(redis_url: str):
    assert Settings(rate_limit_storage=redis_url).rate_limit_storage == redis_url


def test_two_processes_limiters_count_together(redis_url: str):
    settings = Settings(rate_limit_storage=redis_url)
    first, second = RateLimiter(settings.rate_limit_storage), RateLimiter(redis_url)
    key = ("form", f"k{time.time_ns()}", "ip", "1.2.3.4")

    first.hit("2/minute", *key, what="from this address")
    second.hit("2/minute", *key, what="from this address")
    second.hit("2/minute", "form", "other-form", "ip", "1.2.3.4", what="from this address")

    for limiter in (first, second):
        with pytest.raises(RateLimitExceeded) as caught:
            limiter.hit("2/minute", *key, what="from this address")
        assert 1 <= caught.value.retry_after <= 60
