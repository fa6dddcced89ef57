"""The ingest hot path's SQL: built once per dialect, fed driver-ready values.

At tens of thousands of events a second, Core's per-row work (binding each parameter
through its type, re-serialising JSON, one statement per row when RETURNING has to keep
the order) costs several times SQLite's own insert. So the statements here are plain SQL
rendered from the table definitions, and values are converted once per event with the
column types' own bind processors: what is stored is exactly what Core would store.

On PostgreSQL the insert is a multi-row ``INSERT ... ON CONFLICT (idempotency_key) DO
NOTHING RETURNING``; on SQLite an ``executemany`` of the same statement, with the new ids
read back by range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect

from leadflow.activity.models import activities
from leadflow.errors import StorageError
from leadflow.storage.sql import driver_rows

# One statement carries this many rows: 7,000 parameters, under SQLite's limit of 32,766
# and PostgreSQL's of 65,535 whatever the batch size.
ROWS_PER_STATEMENT = 1_000

EVENT_COLUMNS = (
    "contact_id",
    "type",
    "occurred_at",
    "recorded_at",
    "source",
    "properties",
    "idempotency_key",
)

# A row as the driver takes it, in EVENT_COLUMNS order.
EventRow = tuple[int, str, Any, Any, str | None, str, str]


@dataclass(frozen=True)
class Wire:
    """Driver-level statements and conversions for one dialect."""

    to_time: Callable[[datetime], Any]  # an aware datetime as the driver stores it
    insert: Callable[[Connection, Wire, Sequence[EventRow]], dict[str, int]]
    insert_sql: Callable[[int], str]  # the INSERT for that many rows
    last_id_sql: str
    ids_after_sql: str


@lru_cache(maxsize=8)
def wire_for(dialect: Dialect) -> Wire:
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sqlite = dialect.name == "sqlite"
    q = dialect.identifier_preparer.quote
    table, key = q(activities.name), q("idempotency_key")
    return Wire(
        to_time=type_time(dialect),
        insert=_insert_sqlite if sqlite else _insert_returning,
        insert_sql=lru_cache(maxsize=16)(
            lambda n: _insert_sql(q, mark, 1 if sqlite else n, returning=not sqlite)
        ),
        last_id_sql=f"SELECT max({q('id')}) FROM {table}",
        ids_after_sql=f"SELECT {q('id')}, {key} FROM {table} WHERE {q('id')} > {mark}",
    )


def type_time(dialect: Dialect) -> Callable[[datetime], Any]:
    """The conversion :class:`UtcDateTime` applies to a bound datetime on ``dialect``."""
    convert = activities.c.occurred_at.type.dialect_impl(dialect).bind_processor(dialect)
    if convert is None:  # the type always converts; this guards the Optional
        raise RuntimeError(f"no datetime conversion for {dialect.name}")
    return convert


def _insert_sql(quote: Callable[[str], str], mark: str, n: int, *, returning: bool) -> str:
    row = "(" + ", ".join([mark] * len(EVENT_COLUMNS)) + ")"
    sql = (
        f"INSERT INTO {quote(activities.name)} ({', '.join(map(quote, EVENT_COLUMNS))}) "
        f"VALUES {', '.join([row] * n)} "
        f"ON CONFLICT ({quote('idempotency_key')}) DO NOTHING"
    )
    return f"{sql} RETURNING {quote('id')}, {quote('idempotency_key')}" if returning else sql


def insert_new_events(conn: Connection, wire: Wire, rows: Sequence[EventRow]) -> dict[str, int]:
    """Insert the rows whose idempotency key is not stored yet; map their keys to new ids.

    The rows' keys must be distinct. The database itself skips a key already stored.
    """
    return wire.insert(conn, wire, rows) if rows else {}


def _insert_returning(conn: Connection, wire: Wire, rows: Sequence[EventRow]) -> dict[str, int]:
    """PostgreSQL: multi-row INSERT ... RETURNING, one round trip per 1,000 rows.

    Other processes insert at the same time, so only RETURNING tells which rows are ours,
    and ON CONFLICT makes a retry racing on another connection still count once.
    """
    ids: dict[str, int] = {}
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        params = tuple(value for row in chunk for value in row)
        result = conn.exec_driver_sql(wire.insert_sql(len(chunk)), params)
        ids.update((key, event_id) for event_id, key in result.all())
    return ids


def _insert_sqlite(conn: Connection, wire: Wire, rows: Sequence[EventRow]) -> dict[str, int]:
    """SQLite: executemany, then the new rows read back by id.

    RETURNING costs SQLite about a tenth more than a plain executemany. Here the writer
    holds the database's write lock (BEGIN IMMEDIATE), and SQLite gives a new row the id
    after the largest one, so the rows above the largest id before the insert are exactly
    the ones just inserted; the count check turns any departure from that rule into an
    error (and a rollback) instead of wrong ids.
    """
    before = conn.exec_driver_sql(wire.last_id_sql).scalar() or 0
    inserted = conn.exec_driver_sql(wire.insert_sql(1), list(rows)).rowcount
    after = driver_rows(conn, wire.ids_after_sql, (before,))
    ids = {key: event_id for event_id, key in after}
    if len(ids) != inserted:
        raise StorageError(
            f"activities: read back {len(ids)} new rows after inserting {inserted}; "
            "ids are not increasing"
        )
    return ids
