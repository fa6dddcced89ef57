from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadflow.cli.app import app
from tests.files import read_csv, write_csv, write_jsonl


@pytest.fixture
def env(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The CLI in this process finds the test workspace through the environment too."""
    for key, value in cli_env.items():
        monkeypatch.setenv(key, value)
    return cli_env


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_import_contacts_prints_a_summary(env: dict[str, str], tmp_path: Path):
    path = write_csv(tmp_path / "leads.csv", ["Email", "Name"], [["a@acme.com", "Ann"]])

    code, output = invoke("import", "contacts", str(path), "--quiet")

    assert code == 0
    assert "imported leads.csv: 1 rows read, 1 created, 0 updated, 0 rejected" in output


def test_skip_reports_where_the_rejects_went(env: dict[str, str], tmp_path: Path):
    rows = [["a@acme.com"], ["nope"], ["b@acme.com"]]
    path = write_csv(tmp_path / "leads.csv", ["email"], rows)
    rejects = tmp_path / "bad.csv"

    code, output = invoke(
        "import", "contacts", str(path), "--on-error", "skip", "--rejects", str(rejects)
    )

    assert code == 0
    assert "2 created, 0 updated, 1 rejected" in output
    assert f"rejected rows (3) written to {rejects}" in output
    assert [r["leadflow_row"] for r in read_csv(rejects)] == ["3"]


def test_import_events_and_export_contacts(env: dict[str, str], tmp_path: Path):
    events = write_jsonl(tmp_path / "ev.jsonl", [{"type": "call", "email": "a@acme.com"}])
    out = tmp_path / "contacts.jsonl"

    code, output = invoke("import", "events", str(events))
    assert (code, "1 recorded" in output) == (0, True)
    code, _ = invoke("export", "contacts", "--format", "jsonl", "--output", str(out))

    assert code == 0
    assert '"email": "a@acme.com"' in out.read_text()


def test_export_to_stdout_is_csv(env: dict[str, str], tmp_path: Path):
    invoke("import", "contacts", str(write_csv(tmp_path / "x.csv", ["email"], [["a@b.co"]])))

    code, output = invoke("export", "contacts")

    assert code == 0
    assert output.splitlines()[0].startswith("leadflow_id,email,phone")
    assert output.splitlines()[1].startswith("1,a@b.co,")


def test_a_bad_row_is_one_line_and_a_non_zero_exit(env: dict[str, str], tmp_path: Path):
    path = write_csv(tmp_path / "leads.csv", ["email", "country"], [["a@acme.com", "Atlantis"]])

    done = subprocess.run(
        [sys.executable, "-m", "leadflow", "import", "contacts", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {path}, row 2, column 'country': 'Atlantis' is not a known country"
    ]
