"""``leadflow demo`` end to end: builds a workspace, prints its summary, guards other folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadflow.cli import demo as cli_demo
from leadflow.cli.app import app
from leadflow.demo import engine
from leadflow.workspace import CONFIG_FILE, DATABASE_FILE

runner = CliRunner()
# The demo always builds its own SQLite file; keep the commands run after it on that file too.
ENV = {"LEADFLOW_DATABASE_URL": "", "LEADFLOW_WORKSPACE": ""}
SMALL = ["--contacts", "60", "--days", "14", "--seed", "9"]


def _demo(*args: str):
    return runner.invoke(app, ["demo", *args], env=ENV)


def test_demo_builds_a_workspace_and_prints_json(tmp_path: Path):
    folder = tmp_path / "demo"

    result = _demo(str(folder), *SMALL, "--format", "json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["contacts"] == 60
    assert summary["events"] > 60
    assert sum(summary["contacts_by_channel"].values()) == 60
    assert (folder / DATABASE_FILE).is_file()
    assert (folder / "demo" / "truth.csv").is_file()
    listed = runner.invoke(app, ["-w", str(folder), "contacts", "list", "-f", "json"], env=ENV)
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.stdout)) == 50  # the list's default page


def test_demo_prints_tables_and_next_steps(tmp_path: Path):
    result = _demo(str(tmp_path / "demo"), *SMALL)

    assert result.exit_code == 0, result.output
    assert "contacts by first-touch channel" in result.stdout
    assert "activity by type" in result.stdout
    assert "contacts list" in result.stdout


def test_same_seed_builds_the_same_demo(tmp_path: Path):
    first = json.loads(_demo(str(tmp_path / "a"), *SMALL, "-f", "json").stdout)
    second = json.loads(_demo(str(tmp_path / "b"), *SMALL, "-f", "json").stdout)

    for key in ("contacts", "accounts", "touches", "events", "converted", "events_by_type"):
        assert first[key] == second[key]


def test_an_existing_demo_is_kept_unless_forced(tmp_path: Path):
    folder = tmp_path / "demo"
    _demo(str(folder), *SMALL)

    refused = _demo(str(folder), *SMALL)
    forced = _demo(str(folder), "--contacts", "30", "--days", "14", "--force", "-f", "json")

    assert refused.exit_code == 1
    assert "already holds a demo" in refused.stderr
    assert "--force" in refused.stderr
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["contacts"] == 30


def test_a_real_workspace_is_never_touched(tmp_path: Path):
    folder = tmp_path / "real"
    assert runner.invoke(app, ["init", str(folder)], env=ENV).exit_code == 0
    before = (folder / CONFIG_FILE).read_text()

    result = _demo(str(folder), *SMALL, "--force")

    assert result.exit_code == 1
    assert "did not create" in result.stderr
    assert (folder / CONFIG_FILE).read_text() == before
    assert not (folder / "demo").exists()


def test_a_folder_with_other_files_is_refused(tmp_path: Path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("keep me")

    result = _demo(str(folder), *SMALL)

    assert result.exit_code == 1
    assert "not empty" in result.stderr
    assert (folder / "todo.txt").read_text() == "keep me"


def test_demo_refuses_csv_and_bad_sizes(tmp_path: Path):
    assert _demo(str(tmp_path / "a"), "--format", "csv").exit_code == 2
    assert _demo(str(tmp_path / "b"), "--contacts", "0").exit_code == 2
    assert not (tmp_path / "a").exists()


def test_default_folder_is_leadflow_demo_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)

    result = _demo(*SMALL)

    assert result.exit_code == 0, result.output
    assert (tmp_path / "leadflow-demo" / DATABASE_FILE).is_file()
    assert "leadflow -w leadflow-demo contacts list" in result.stdout


def test_the_cli_defaults_are_the_generators():
    assert (cli_demo.DEFAULT_CONTACTS, cli_demo.DEFAULT_DAYS, cli_demo.DEFAULT_SEED) == (
        engine.DEFAULT_CONTACTS,
        engine.DEFAULT_DAYS,
        engine.DEFAULT_SEED,
    )


def test_demo_visits_its_website_through_the_service(tmp_path: Path):
    folder = tmp_path / "demo"

    result = _demo(str(folder), *SMALL, "--format", "json")

    assert result.exit_code == 0, result.output
    tour = json.loads(result.stdout)["website"]
    # Three page views under an anonymous id, then the form: all on one identified contact.
    assert (tour["page_views"], tour["stitched"], tour["consent"]) == (3, 3, True)
    assert tour["touch_campaigns"] == ["demo-launch"]  # the landing page's UTM campaign
    assert (folder / "forms.yaml").is_file()
    show = ["-w", str(folder), "contacts", "show", tour["email"], "-f", "json"]
    shown = runner.invoke(app, show, env=ENV)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["id"] == tour["contact_id"]
    keys = runner.invoke(app, ["-w", str(folder), "keys", "list"], env=ENV)
    assert tour["api_key"].split("_")[1] in keys.stdout  # the admin key's prefix
