"""Test fixtures: a real database per test, SQLite by default, PostgreSQL when
``LEADFLOW_TEST_DATABASE_URL`` is set.

SQLite: the schema is migrated once per session into a template file that each test copies.
PostgreSQL: the schema is migrated once per session; each test starts from empty tables
(TRUNCATE ... RESTART IDENTITY), so ids are as predictable as on SQLite.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from leadflow.clock import FrozenClock
from leadflow.settings import Settings
from leadflow.storage.database import Database
from leadflow.storage.schema import all_tables
from leadflow.workspace import DATABASE_FILE, Workspace

PG_URL = os.environ.get("LEADFLOW_TEST_DATABASE_URL") or None
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday morning


def pytest_report_header() -> str:
    return f"leadflow test database: {'postgresql' if PG_URL else 'sqlite'}"


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace migrated once; on PostgreSQL its schema lives in the server."""
    root = tmp_path_factory.mktemp("template")
    if PG_URL:
        db = Database(PG_URL)
        with db.write() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        db.dispose()
    Workspace.init(root, settings=settings_for(root)).close()
    return root


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
