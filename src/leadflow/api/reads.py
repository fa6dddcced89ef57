"""The API's own read queries: pages of contacts, accounts and activity for its listings.

Purely presentational (keyset pages over rows the domains own); every domain rule stays in
the domains' services.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from leadflow.access.engine import Principal
from leadflow.access.scope import contact_condition
from leadflow.activity.models import activities
from leadflow.api.pagination import decode_cursor, encode_cursor
from leadflow.contacts.models import accounts, contacts
from leadflow.errors import ValidationError
from leadflow.rules import Condition
from leadflow.rules.compile import compile_condition
from leadflow.storage.database import Database

CONTACT_SORTS: dict[str, ColumnElement[Any]] = {
    "id": contacts.c.id,
    "created_at": contacts.c.created_at,
    "updated_at": contacts.c.updated_at,
    # Nullable text sorts as '' so that the keyset comparison never meets a NULL.
    "email": func.coalesce(contacts.c.email, ""),
    "last_name": func.coalesce(contacts.c.last_name, ""),
}
_TIME_SORTS = ("created_at", "updated_at")


def contact_page(
    db: Database,
    principal: Principal,
    *,
    where: Condition | None,
    sort: str,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of active contacts the principal may see, and the cursor of the next."""
    name = sort.removeprefix("-")
    column = CONTACT_SORTS[name]
    query = select(contacts, column.label("_sort")).where(contacts.c.status == "active")
    scope = contact_condition(principal)
    if scope is not None:
        query = query.where(scope)
    if where is not None:
        query = query.where(compile_condition(where, now=now))
    query = _keyset(query, column, sort, cursor)
    with db.read() as conn:
        rows = [dict(r) for r in conn.execute(query.limit(limit + 1)).mappings()]
    return _paged(rows, sort, limit)


def _keyset(
    query: Select[Any], column: ColumnElement[Any], sort: str, cursor: str | None
) -> Select[Any]:
    descending = sort.startswith("-")
    key = tuple_(column, contacts.c.id)
    if cursor is not None:
        value, last_id = decode_cursor(cursor, sort)
        if sort.removeprefix("-") in _TIME_SORTS:
            value = _time(value)
        after = key < tuple_(value, last_id) if descending else key > tuple_(value, last_id)
        query = query.where(after)
    if descending:
        return query.order_by(column.desc(), contacts.c.id.desc())
    return query.order_by(column, contacts.c.id)


def _time(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise ValidationError("not a cursor this API gave out", field="cursor") from None


def _paged(
    rows: list[dict[str, Any]], sort: str, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    more = len(rows) > limit
    rows = rows[:limit]
    for row in rows:
        sort_value = row.pop("_sort")
        row["_cursor"] = sort_value.isoformat() if isinstance(sort_value, datetime) else sort_value
    cursor = encode_cursor(sort, rows[-1]["_cursor"], rows[-1]["id"]) if more else None
    for row in rows:
        del row["_cursor"]
    return rows, cursor


def account_page(
    db: Database, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = select(accounts, accounts.c.id.label("_sort")).order_by(accounts.c.id)
    if cursor is not None:
        query = query.where(accounts.c.id > decode_cursor(cursor, "id")[1])
    with db.read() as conn:
        rows = [dict(r) for r in conn.execute(query.limit(limit + 1)).mappings()]
    return _paged(rows, "id", limit)


def activity_page(
    db: Database, contact_id: int, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A contact's activity, newest recorded first."""
    query = (
        select(activities, activities.c.id.label("_sort"))
        .where(activities.c.contact_id == contact_id)
        .order_by(activities.c.id.desc())
    )
    if cursor is not None:
        query = query.where(activities.c.id < decode_cursor(cursor, "-id")[1])
    with db.read() as conn:
        rows = [dict(r) for r in conn.execute(query.limit(limit + 1)).mappings()]
    return _paged(rows, "-id", limit)


def account(db: Database, account_id: int) -> dict[str, Any] | None:
    with db.read() as conn:
        row = conn.execute(select(accounts).where(accounts.c.id == account_id)).mappings().first()
    return None if row is None else dict(row)
