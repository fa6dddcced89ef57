"""Test fixtures: a real database per test, SQLite by default, PostgreSQL when
``LEADFLOW_TEST_DATABASE_URL`` is set.

SQLite: the schema is migrated once per session into a template file that each test copies.
PostgreSQL: each test session creates its own database next to the one the URL names (so
runs in parallel never meet), migrates it once, and each test starts from empty tables
(TRUNCATE ... RESTART IDENTITY), so ids are as predictable as on SQLite.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from leadflow.clock import FrozenClock
from leadflow.settings import Settings
from leadflow.storage.database import Database
from leadflow.storage.schema import all_tables
from leadflow.workspace import DATABASE_FILE, Workspace

SERVER_URL = os.environ.get("LEADFLOW_TEST_DATABASE_URL") or None
PG_URL: str | None = None  # the session's own database, set by _template
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday morning


def pytest_report_header() -> str:
    return f"leadflow test database: {'postgresql' if SERVER_URL else 'sqlite'}"


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace migrated once; on PostgreSQL its schema lives in the session's database."""
    global PG_URL
    root = tmp_path_factory.mktemp("template")
    if SERVER_URL:
        PG_URL = _create_session_database(SERVER_URL)
    Workspace.init(root, settings=settings_for(root)).close()
    yield root
    if SERVER_URL and PG_URL:
        _drop_database(SERVER_URL, make_url(PG_URL).database or "")


def _create_session_database(server_url: str) -> str:
    url = make_url(server_url)
    name = f"{url.database}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_database(server_url: str, name: str) -> None:
    engine = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def settings_for(root: Path) -> Settings:
    return Settings(env="test", workspace=root, database_url=PG_URL)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def workspace(_template: Path, tmp_path: Path, clock: FrozenClock) -> Iterator[Workspace]:
    root = tmp_path / "workspace"
    shutil.copytree(_template, root)
    if PG_URL:
        _truncate_all(PG_URL)
    else:
        assert (root / DATABASE_FILE).exists()
    ws = Workspace.open(root, settings=settings_for(root), clock=clock)
    # On PostgreSQL the truncate emptied scoring_models too: activate the workspace's
    # default model again, as the SQLite template already has it.
    ws.activate_scoring_if_none()
    ws.activate_lifecycle_if_none()
    yield ws
    ws.close()


@pytest.fixture
def db(workspace: Workspace) -> Database:
    return workspace.db


def _truncate_all(url: str) -> None:
    names = ", ".join(t.name for t in all_tables().sorted_tables)
    database = Database(url)
    with database.write() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    database.dispose()


@pytest.fixture
def cli_env(workspace: Workspace) -> dict[str, str]:
    """Environment for running the CLI against the test workspace (and its database)."""
    env = {"LEADFLOW_WORKSPACE": str(workspace.root)}
    if PG_URL:
        env["LEADFLOW_DATABASE_URL"] = PG_URL
    return env
