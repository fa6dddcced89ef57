"""Database faults become one clear error naming the database, and nothing is half-written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.models import contacts
from leadflow.contacts.service import capture_contact
from leadflow.errors import DatabaseLocked, DatabaseReadOnly, DatabaseUnavailable, SchemaOutOfDate
from leadflow.storage.database import Database
from leadflow.storage.migrate import ensure_current, upgrade


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "leadflow.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    database.dispose()
    return path


def test_locked_sqlite_database_is_reported_after_the_busy_timeout(
    sqlite_file: Path, clock: FrozenClock
):
    holder = sqlite3.connect(sqlite_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    database = Database(f"sqlite:///{sqlite_file}", busy_timeout_ms=50)
    try:
        with pytest.raises(DatabaseLocked, match=r"leadflow\.db is locked by another process"):
            capture_contact(database, clock, ContactInput(email="a@acme.com"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with database.read() as conn:
        assert conn.execute(select(func.count()).select_from(contacts)).scalar_one() == 0
    database.dispose()


def test_read_only_sqlite_database_is_reported(sqlite_file: Path, clock: FrozenClock):
    # Opened read-only through SQLite's URI mode: chmod would not stop root, who runs CI.
    database = Database(f"sqlite:///file:{sqlite_file}?mode=ro&uri=true")

    with pytest.raises(DatabaseReadOnly, match="read-only"):
        capture_contact(database, clock, ContactInput(email="a@acme.com"))
    database.dispose()


def test_missing_sqlite_folder_is_reported(tmp_path: Path):
    database = Database(f"sqlite:///{tmp_path / 'nowhere' / 'leadflow.db'}")

    with pytest.raises(DatabaseUnavailable, match="its folder does not exist"):
        database.ping()


def test_unreachable_postgresql_server_is_reported():
    # Port 1 on loopback: nothing listens, so the connection is refused at once.
    database = Database("postgresql+psycopg://postgres:secret@127.0.0.1:1/leadflow")

    with pytest.raises(DatabaseUnavailable, match="cannot connect") as caught:
        database.ping()

    assert "secret" not in str(caught.value)


def test_schema_behind_the_code_is_refused(tmp_path: Path):
    database = Database(f"sqlite:///{tmp_path / 'empty.db'}")

    with pytest.raises(SchemaOutOfDate, match="leadflow db upgrade"):
        ensure_current(database)
    database.dispose()
