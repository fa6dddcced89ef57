"""The statements the writer runs and SQLite's plan for them, for tests that pin an index.

SQLite plans without statistics, so its choice does not depend on a table's size: a plan
read on a small table is the plan a large one gets. PostgreSQL plans from its statistics,
so tests assert a plan on SQLite only (the behaviour around it runs on both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from leadflow.storage.database import Database


@contextmanager
def writer_statements(db: Database) -> Iterator[list[str]]:
    """Every statement the writer's connection runs inside the block, with its values."""
    statements: list[str] = []
    _trace_writer(db, statements.append)
    try:
        yield statements
    finally:
        _trace_writer(db, None)


@contextmanager
def read_statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """Every statement read connections run inside the block, with its parameters."""
    found: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        found.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        yield found
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)


def query_plan(db: Database, statement: str, parameters: Any = ()) -> list[str]:
    """SQLite's plan for a statement, a line per step."""
    with db.read() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return [row[-1] for row in plan]


def _trace_writer(db: Database, callback: Callable[[str], object] | None) -> None:
    with db.write() as conn:
        driver = conn.connection.dbapi_connection
        assert driver is not None
        driver.set_trace_callback(callback)
