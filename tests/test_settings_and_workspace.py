from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError as SettingsError

from leadflow.errors import ConfigError, WorkspaceNotFound
from leadflow.settings import Settings
from leadflow.workspace import CONFIG_FILE, Workspace, find_root


def test_default_secret_is_refused_in_production():
    with pytest.raises(SettingsError, match="LEADFLOW_SECRET_KEY"):
        Settings(env="production")


def test_short_secret_is_refused_in_production():
    with pytest.raises(SettingsError, match="at least 32"):
        Settings(env="production", secret_key="short")


def test_plain_postgresql_url_uses_psycopg_3():
    settings = Settings(database_url="postgresql://u@localhost/db")

    assert settings.database_url == "postgresql+psycopg://u@localhost/db"


def test_unknown_database_is_refused():
    with pytest.raises(SettingsError, match="sqlite:// or postgresql"):
        Settings(database_url="mysql://root@localhost/db")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LEADFLOW_SQLITE_BUSY_TIMEOUT_MS", "250")

    assert Settings().sqlite_busy_timeout_ms == 250


def test_workspace_is_found_from_a_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / CONFIG_FILE).write_text("workspace: {name: t}\n")
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)

    assert find_root(None) == tmp_path.resolve()


def test_no_workspace_says_how_to_make_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)

    with pytest.raises(WorkspaceNotFound, match="leadflow init"):
        find_root(None)


def test_broken_config_names_file_and_line(tmp_path: Path):
    (tmp_path / CONFIG_FILE).write_text("workspace:\n  name: [unclosed\n  timezone: UTC\n")

    with pytest.raises(ConfigError, match=r"leadflow\.yaml:\d+"):
        Workspace.open(tmp_path, settings=Settings(workspace=tmp_path))


def test_init_creates_config_and_database(tmp_path: Path):
    target = tmp_path / "ws"
    with Workspace.init(target, settings=Settings()) as ws:
        assert ws.config["workspace"]["name"] == "ws"
        assert ws.default_phone_region == "US"
    assert (target / CONFIG_FILE).is_file()
    assert (target / "leadflow.db").is_file()
