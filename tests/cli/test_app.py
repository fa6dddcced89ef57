"""The CLI's shared behaviour: init, version, and one clear line for every failure."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadflow import __version__
from leadflow.cli.app import app
from leadflow.workspace import Workspace

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["version"])

    assert result.exit_code == 0
    assert result.stdout.strip() == __version__


def test_init_creates_a_workspace_that_commands_can_use(tmp_path: Path, cli_env: dict[str, str]):
    # On PostgreSQL runs the new workspace points at the session's database.
    env = {k: v for k, v in cli_env.items() if k == "LEADFLOW_DATABASE_URL"}
    target = tmp_path / "acme"

    created = runner.invoke(app, ["init", str(target)], env=env)
    listed = runner.invoke(
        app, ["-w", str(target), "contacts", "list", "--format", "json"], env=env
    )

    assert created.exit_code == 0, created.output
    assert "workspace ready" in created.stdout
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.strip() == "[]"


def test_init_twice_keeps_the_config(tmp_path: Path):
    runner.invoke(app, ["init", str(tmp_path), "--name", "first"])
    again = runner.invoke(app, ["init", str(tmp_path), "--name", "second"])

    assert again.exit_code == 0
    assert "first" in (tmp_path / "leadflow.yaml").read_text()


def test_missing_workspace_is_one_clear_line(tmp_path: Path):
    result = runner.invoke(app, ["-w", str(tmp_path / "nope"), "contacts", "list"])

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "is not a leadflow workspace" in result.stderr


def test_invalid_setting_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    Workspace.init(tmp_path).close()
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", "mysql://root@localhost/x")

    result = runner.invoke(app, ["-w", str(tmp_path), "contacts", "list"])

    assert result.exit_code == 1
    assert "LEADFLOW_DATABASE_URL" in result.stderr


def test_postgresql_server_down_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "leadflow.yaml").write_text("workspace: {name: t}\n")
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/x")

    result = runner.invoke(app, ["-w", str(tmp_path), "contacts", "list"])

    assert result.exit_code == 1
    assert "cannot connect to the database" in result.stderr


def test_locked_database_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    Workspace.init(tmp_path).close()
    monkeypatch.setenv("LEADFLOW_SQLITE_BUSY_TIMEOUT_MS", "50")
    holder = sqlite3.connect(tmp_path / "leadflow.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer; under WAL readers would still pass
    try:
        result = runner.invoke(app, ["-w", str(tmp_path), "db", "upgrade"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert result.exit_code == 1
    assert "is locked by another process" in result.stderr


def test_unknown_contact_is_not_found(tmp_path: Path):
    Workspace.init(tmp_path).close()

    result = runner.invoke(app, ["-w", str(tmp_path), "contacts", "show", "nobody@acme.com"])

    assert result.exit_code == 1
    assert "no contact 'nobody@acme.com'" in result.stderr
