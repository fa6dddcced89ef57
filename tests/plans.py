"""The statements the writer runs and SQLite's plan for them, for tests that pin an index.

SQLite plans without statistics, so its choice does not depend on a table's size: a plan
read on a small table is the plan a large one gets. PostgreSQL plans from its statistics;
tests using these helpers run on SQLite only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


def query_plan(db: Database, statement: str) -> list[str]:
    """SQLite's plan for a statement, a line per step."""
    with db.read() as conn:
        return [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")]


def _trace_writer(db: Database, callback: Callable[[str], object] | None) -> None:
    with db.write() as conn:
        driver = conn.connection.dbapi_connection
        assert driver is not None
        driver.set_trace_callback(callback)
