"""Reading contacts: resolve a reference, show one, list many with filters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, literal, or_, select

from leadflow.activity.queries import last_activity_at
from leadflow.contacts.models import accounts, contacts, identities, touches
from leadflow.contacts.normalize import email_key, normalize_email, normalize_phone
from leadflow.contacts.service import lookup_identities
from leadflow.errors import NotFound, ValidationError
from leadflow.storage.database import Database

LIST_COLUMNS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "title",
    "seniority",
    "company",
    "country",
    "first_channel",
    "last_channel",
    "created_at",
    "last_activity_at",
)
SORTS = ("id", "created_at", "last_activity_at", "email")


@dataclass(frozen=True)
class ContactFilter:
    channel: str | None = None  # first-touch channel
    country: str | None = None
    seniority: str | None = None
    domain: str | None = None  # the account's domain
    search: str | None = None  # part of name, email or company
    created_after: datetime | None = None
    created_before: datetime | None = None
    include_merged: bool = False


def resolve_contact_id(conn: Connection, ref: str | int, *, follow_merges: bool = True) -> int:
    """A contact id from an id, an email, a phone, or ``kind:value``; merged ids follow on.

    With ``follow_merges=False`` the id of the contact the reference names, merged or not.
    """
    contact_id = _lookup_ref(conn, ref)
    if not follow_merges:
        if contact_id is None or not _exists(conn, contact_id):
            raise NotFound(f"no contact {ref!r}")
        return contact_id
    seen: set[int] = set()
    while contact_id is not None and contact_id not in seen:
        seen.add(contact_id)
        merged_into = conn.execute(
            select(contacts.c.merged_into_id).where(contacts.c.id == contact_id)
        ).first()
        if merged_into is None:
            break
        if merged_into[0] is None:
            return contact_id
        contact_id = merged_into[0]
    raise NotFound(f"no contact {ref!r}")


def _exists(conn: Connection, contact_id: int) -> bool:
    return (
        conn.execute(select(contacts.c.id).where(contacts.c.id == contact_id)).first() is not None
    )


def _lookup_ref(conn: Connection, ref: str | int) -> int | None:
    text = str(ref).strip()
    # isdigit() alone also takes "²" and other digits int() refuses.
    if text.isascii() and text.isdigit():
        return int(text)
    kind, sep, value = text.partition(":")
    try:
        if sep and kind in ("external_id", "anonymous_id"):
            key = (kind, value)
        elif "@" in text:
            key = ("email", email_key(normalize_email(text)))
        elif text.startswith("+"):
            key = ("phone", normalize_phone(text))
        else:
            return None
    except ValidationError:
        return None
    return lookup_identities(conn, [key]).get(key)


def get_contact(db: Database, ref: str | int) -> dict[str, Any]:
    """Everything stored about one contact: fields, account, identities, touches."""
    with db.read() as conn:
        contact_id = resolve_contact_id(conn, ref)
        row = conn.execute(select(contacts).where(contacts.c.id == contact_id)).mappings().one()
        result: dict[str, Any] = dict(row)
        result["last_activity_at"] = conn.execute(
            select(last_activity_at(literal(contact_id)))
        ).scalar()
        named = _lookup_ref(conn, ref)
        if named != contact_id:
            # The reference named a merged contact; say so rather than silently switch.
            result = {"note": f"contact {named} was merged into {contact_id}", **result}
        result["account"] = None
        if row["account_id"] is not None:
            account = conn.execute(select(accounts).where(accounts.c.id == row["account_id"]))
            result["account"] = dict(account.mappings().one())
        result["identities"] = [
            dict(r)
            for r in conn.execute(
                select(identities.c.kind, identities.c.value, identities.c.created_at)
                .where(identities.c.contact_id == contact_id)
                .order_by(identities.c.id)
            ).mappings()
        ]
        result["touches"] = [
            dict(r)
            for r in conn.execute(
                select(touches)
                .where(touches.c.contact_id == contact_id)
                .order_by(touches.c.occurred_at, touches.c.id)
            ).mappings()
        ]
        return result


def list_contacts(
    db: Database,
    filters: ContactFilter | None = None,
    *,
    sort: str = "id",
    descending: bool = False,
    limit: int | None = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    return list(
        iter_contacts(db, filters, sort=sort, descending=descending, limit=limit, offset=offset)
    )


def iter_contacts(
    db: Database,
    filters: ContactFilter | None = None,
    *,
    sort: str = "id",
    descending: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> Iterator[dict[str, Any]]:
    """Contacts with their first and last channel, streamed (constant memory)."""
    if sort not in SORTS:
        raise ValidationError(f"{sort!r} is not one of {', '.join(SORTS)}", field="sort")
    query = _filtered(_listing(), filters or ContactFilter())
    column = query.selected_columns[sort] if sort == "last_activity_at" else contacts.c[sort]
    order = column.desc() if descending else column.asc()
    query = query.order_by(order, contacts.c.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with db.read() as conn:
        for row in conn.execution_options(yield_per=2000).execute(query).mappings():
            yield dict(row)


def count_contacts(db: Database, filters: ContactFilter | None = None) -> int:
    query = _filtered(_listing(), filters or ContactFilter())
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())


def _listing() -> Select[Any]:
    first = touches.alias("first_touch")
    last = touches.alias("last_touch")
    return (
        select(
            contacts.c.id,
            contacts.c.email,
            contacts.c.phone,
            contacts.c.first_name,
            contacts.c.last_name,
            contacts.c.title,
            contacts.c.seniority,
            func.coalesce(accounts.c.name, contacts.c.company_name).label("company"),
            accounts.c.domain,
            contacts.c.country,
            contacts.c.status,
            first.c.channel.label("first_channel"),
            last.c.channel.label("last_channel"),
            contacts.c.created_at,
            last_activity_at(contacts.c.id).label("last_activity_at"),
        )
        .select_from(contacts)
        .outerjoin(accounts, accounts.c.id == contacts.c.account_id)
        .outerjoin(first, first.c.id == contacts.c.first_touch_id)
        .outerjoin(last, last.c.id == contacts.c.last_touch_id)
    )


def _filtered(query: Select[Any], f: ContactFilter) -> Select[Any]:
    if not f.include_merged:
        query = query.where(contacts.c.status == "active")
    if f.channel:
        query = query.where(query.selected_columns.first_channel == f.channel.lower())
    if f.country:
        query = query.where(contacts.c.country == f.country.upper())
    if f.seniority:
        query = query.where(contacts.c.seniority == f.seniority.lower())
    if f.domain:
        query = query.where(accounts.c.domain == f.domain.lower())
    if f.created_after:
        query = query.where(contacts.c.created_at >= f.created_after)
    if f.created_before:
        query = query.where(contacts.c.created_at < f.created_before)
    if f.search:
        pattern = f"%{f.search.lower()}%"
        query = query.where(
            or_(
                func.lower(contacts.c.email).like(pattern),
                func.lower(contacts.c.first_name).like(pattern),
                func.lower(contacts.c.last_name).like(pattern),
                func.lower(func.coalesce(accounts.c.name, contacts.c.company_name)).like(pattern),
            )
        )
    return query
