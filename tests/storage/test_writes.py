"""SQLite writes: foreign-key checks turned off for the writes that allocate every id they
refer to, set only when a write wants another setting than the last one."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy.exc

from leadflow.storage.database import Database


@pytest.fixture
def sqlite_db(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql(
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id))"
        )
    yield db
    db.dispose()


def _traced(db: Database) -> list[str]:
    """Every statement the writer's connection runs from now on."""
    statements: list[str] = []
    with db.write() as conn:
        driver = conn.connection.dbapi_connection
        assert driver is not None
        driver.set_trace_callback(statements.append)
    return statements


def test_unchecked_writes_in_a_row_set_the_pragma_once(sqlite_db: Database):
    # Setting foreign_keys expires every statement the connection prepared: a stream of
    # event groups that turned it off and on again re-parsed all its statements each time.
    statements = _traced(sqlite_db)

    for i in range(3):
        with sqlite_db.write(check_references=False) as conn:
            conn.exec_driver_sql(f"INSERT INTO parent (id) VALUES ({i + 1})")

    pragmas = [s for s in statements if "foreign_keys" in s.lower()]
    assert pragmas == ["PRAGMA foreign_keys = OFF"]


def test_a_checked_write_after_unchecked_ones_checks_references(sqlite_db: Database):
    with sqlite_db.write(check_references=False) as conn:
        conn.exec_driver_sql("INSERT INTO child (id, parent_id) VALUES (1, 99)")  # not checked

    with pytest.raises(sqlalchemy.exc.IntegrityError), sqlite_db.write() as conn:
        conn.exec_driver_sql("INSERT INTO child (id, parent_id) VALUES (2, 98)")

    with sqlite_db.write() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("SELECT count(*) FROM child").scalar() == 1
