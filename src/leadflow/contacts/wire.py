"""Capture's writes at the driver level: statements rendered once per dialect.

A batch of captures is a handful of executemany statements, but Core binds every parameter
of every row through its type (``construct_params``), which at import sizes costs several
times the database's own work. So, as in :mod:`leadflow.activity.store`, the statements
here are plain SQL rendered from the table definitions, fed tuples. The few columns whose
type converts a value (times, JSON, floats) go through the column type's own bind
processor, so what is stored is what Core would store; building the wire checks that no
other column it writes has a conversion on the dialect.

New ids are allocated before the insert (SQLite: after the largest id, under the write
lock of ``BEGIN IMMEDIATE``; PostgreSQL: from the column's sequence), so no statement needs
RETURNING and every row's id is known without reading it back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

from leadflow.contacts.engine import TOUCH_TEXT_FIELDS
from leadflow.contacts.models import accounts, contacts, identities, touches
from leadflow.storage.metadata import UtcDateTime
from leadflow.storage.sql import chunked, driver_rows

CONTACT_COLUMNS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "title",
    "seniority",
    "company_name",
    "country",
    "timezone",
    "language",
)
ACCOUNT_COLUMNS = ("name", "industry", "employee_count", "annual_revenue", "country")

# Column orders of the tuples each statement takes.
CONTACT_INSERT = (
    "id",
    "account_id",
    "status",
    *CONTACT_COLUMNS,
    "properties",
    "first_touch_id",
    "last_touch_id",
    "stage",
    "stage_entered_at",
    "created_at",
    "updated_at",
)
# Most captures give neither a timezone nor a language; their rows leave the two out (see
# TOUCH_INSERT_BARE for why leaving NULLs out pays).
RARE_CONTACT_COLUMNS = ("timezone", "language")
assert CONTACT_COLUMNS[-2:] == RARE_CONTACT_COLUMNS
CONTACT_INSERT_COMMON = tuple(c for c in CONTACT_INSERT if c not in RARE_CONTACT_COLUMNS)
CONTACT_SETTABLE = (*CONTACT_COLUMNS, "account_id", "properties")
ACCOUNT_INSERT = ("id", "domain", *ACCOUNT_COLUMNS, "properties", "created_at", "updated_at")
IDENTITY_INSERT = ("contact_id", "kind", "value", "created_at")
TOUCH_INSERT = ("id", "contact_id", "channel", *TOUCH_TEXT_FIELDS, "occurred_at")
# A touch that gives none of the text columns besides its key (every row of most imports).
# The sqlite3 module binds each None through its adapter registry, which made the eight
# NULLs of such a row cost more than inserting it; left out, they are NULL all the same.
TOUCH_INSERT_BARE = ("id", "contact_id", "channel", "idempotency_key", "occurred_at")

# The columns whose values callers convert through the wire's processors.
_CONVERTED = {
    "properties",
    "created_at",
    "updated_at",
    "occurred_at",
    "annual_revenue",
    "stage_entered_at",
}


@dataclass(frozen=True)
class Wire:
    """One dialect's statements and value conversions for the capture tables."""

    sqlite: bool
    time: Callable[[datetime], Any]  # an aware datetime as the driver takes it
    json: Callable[[Any], Any]  # a properties dict as the driver takes it
    amount: Callable[[Any], Any]  # annual_revenue as the driver takes it
    insert_contacts: str
    insert_common_contacts: str  # CONTACT_INSERT_COMMON's columns
    update_contacts: str
    touch_ends: str
    insert_identities: str
    insert_accounts: str
    fill_accounts: str
    insert_touches: str
    insert_bare_touches: str  # TOUCH_INSERT_BARE's columns
    clear_touch_ends: str
    quote: Callable[[str], str]
    mark: str


def wire_for(conn: Connection) -> Wire:
    return _wire(conn.dialect)


@lru_cache(maxsize=8)
def _wire(dialect: Dialect) -> Wire:
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    q = dialect.identifier_preparer.quote
    _check_unconverted(dialect)
    json = _processor(contacts.c.properties, dialect)

    def insert(table: Table, columns: Sequence[str], *, ignore: bool = False) -> str:
        marks = ", ".join([mark] * len(columns))
        sql = f"INSERT INTO {q(table.name)} ({', '.join(map(q, columns))}) VALUES ({marks})"
        return f"{sql} ON CONFLICT DO NOTHING" if ignore else sql

    def update(table: Table, sets: Sequence[str]) -> str:
        return f"UPDATE {q(table.name)} SET {', '.join(sets)} WHERE {q('id')} = {mark}"

    return Wire(
        sqlite=dialect.name == "sqlite",
        # Cached: a file repeats its times and its few property values on many rows, and
        # both conversions are pure (equal aware times are the same instant). On SQLite JSON
        # is serialised here; psycopg's wrapper serialises later, so there is nothing to keep.
        time=lru_cache(maxsize=65_536)(_processor(contacts.c.created_at, dialect)),
        json=_TextDictCache(json) if dialect.name == "sqlite" else json,
        amount=_processor(accounts.c.annual_revenue, dialect),
        insert_contacts=insert(contacts, CONTACT_INSERT),
        insert_common_contacts=insert(contacts, CONTACT_INSERT_COMMON),
        # A capture sets what it says and keeps what it does not say (NULL).
        update_contacts=update(
            contacts,
            [f"{q(c)} = coalesce({mark}, {q(c)})" for c in CONTACT_SETTABLE]
            + [f"{q('updated_at')} = {mark}"],
        ),
        touch_ends=update(
            contacts,
            [f"{q(c)} = coalesce({mark}, {q(c)})" for c in ("first_touch_id", "last_touch_id")],
        ),
        insert_identities=insert(identities, IDENTITY_INSERT, ignore=True),
        insert_accounts=insert(accounts, ACCOUNT_INSERT, ignore=True),
        # An existing account keeps what it knows; a capture only fills its gaps.
        fill_accounts=update(
            accounts,
            [f"{q(c)} = coalesce({q(c)}, {mark})" for c in ACCOUNT_COLUMNS]
            + [f"{q('updated_at')} = {mark}"],
        ),
        insert_touches=insert(touches, TOUCH_INSERT, ignore=True),
        insert_bare_touches=insert(touches, TOUCH_INSERT_BARE, ignore=True),
        clear_touch_ends=update(
            contacts, [f"{q(c)} = NULL" for c in ("first_touch_id", "last_touch_id")]
        ),
        quote=q,
        mark=mark,
    )


def _processor(column: Any, dialect: Dialect) -> Callable[[Any], Any]:
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _same


def _same(value: Any) -> Any:
    return value


class _TextDictCache:
    """A JSON bind processor that remembers dicts of text keys and text values.

    Only those: ``True`` equals ``1`` and ``1.0`` as a key part, but they serialise
    differently. The items are the key, in order, so the text is what the processor gives.
    """

    def __init__(self, process: Callable[[Any], Any], size: int = 4096) -> None:
        self._process = process
        self._size = size
        self._known: dict[tuple[tuple[str, str], ...], Any] = {}

    def __call__(self, value: Any) -> Any:
        if type(value) is not dict or not all(
            type(k) is str and type(v) is str for k, v in value.items()
        ):
            return self._process(value)
        key = tuple(value.items())
        text = self._known.get(key)
        if text is None:
            if len(self._known) >= self._size:
                self._known.clear()
            text = self._known[key] = self._process(value)
        return text


def _check_unconverted(dialect: Dialect) -> None:
    """Refuse a dialect on which a column passed as it is would need a conversion."""
    written = (
        (contacts, CONTACT_INSERT),
        (accounts, ACCOUNT_INSERT),
        (identities, IDENTITY_INSERT),
        (touches, TOUCH_INSERT),
    )
    for table, columns in written:
        for name in columns:
            column = table.c[name]
            if name in _CONVERTED:
                if name.endswith("_at") and not isinstance(column.type, UtcDateTime):
                    raise RuntimeError(f"{table.name}.{name} is not a UtcDateTime")
                continue
            if column.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                raise RuntimeError(f"{table.name}.{name} needs a conversion on {dialect.name}")


def allocate_ids(conn: Connection, wire: Wire, table: Table, count: int) -> list[int]:
    """Ids for ``count`` new rows of ``table``, in increasing order.

    SQLite: the writer holds the only write lock (``BEGIN IMMEDIATE``), so the ids after the
    largest one are free until it commits. PostgreSQL: drawn from the id column's sequence,
    safe with concurrent writers.
    """
    if count == 0:
        return []
    q = wire.quote
    if wire.sqlite:
        sql = f"SELECT coalesce(max({q('id')}), 0) FROM {q(table.name)}"
        start = int(conn.exec_driver_sql(sql).scalar_one())
        return list(range(start + 1, start + 1 + count))
    sql = (
        f"SELECT nextval(pg_get_serial_sequence({wire.mark}, {wire.mark})) "
        f"FROM generate_series(1, {wire.mark})"
    )
    rows = conn.exec_driver_sql(sql, (table.name, "id", count)).all()
    return sorted(int(i) for (i,) in rows)


def execute_rows(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> int:
    """executemany of driver-ready tuples; the number of rows changed (0 for no rows)."""
    if not rows:
        return 0
    return int(conn.exec_driver_sql(sql, list(rows)).rowcount)


def select_in(
    conn: Connection, wire: Wire, head: str, values: Sequence[Any], *before: Any
) -> list[Any]:
    """The rows of ``head IN (values)``, in chunks under the databases' parameter limits.

    ``head`` ends with the column compared; ``before`` are the parameters ``head`` takes.
    """
    rows: list[Any] = []
    for chunk in chunked(values):
        marks = ", ".join([wire.mark] * len(chunk))
        rows += driver_rows(conn, f"{head} IN ({marks})", (*before, *chunk))
    return rows
