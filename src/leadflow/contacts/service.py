"""What can be done with contacts and accounts: capture with identity resolution, read, list.

Capture is set-based: a batch of prepared contacts costs a fixed number of statements
(identity lookup, account upsert, contact insert/update, identity insert, touch insert),
whatever its size. A single capture is a batch of one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from leadflow.clock import Clock
from leadflow.contacts.engine import (
    TOUCH_TEXT_FIELDS,
    PreparedAccount,
    PreparedContact,
    PreparedTouch,
    prepare_contact,
    prepare_touch,
)
from leadflow.contacts.inputs import ContactInput, TouchInput
from leadflow.contacts.models import accounts, contacts, identities, touches
from leadflow.storage.database import Database
from leadflow.storage.sql import chunked, execute_many, insert_ignore

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
_NO_TOUCH_VALUES: dict[str, Any] = dict.fromkeys(TOUCH_TEXT_FIELDS)
ACCOUNT_COLUMNS = ("name", "industry", "employee_count", "annual_revenue", "country")


@dataclass(frozen=True)
class CaptureResult:
    contact_id: int
    created: bool
    touch_id: int | None = None


@dataclass
class _Group:
    """The rows of one batch that name the same person (they share an identity)."""

    rows: list[int] = field(default_factory=list)
    keys: dict[tuple[str, str], None] = field(default_factory=dict)
    contact_id: int | None = None
    created: bool = False


# -- capture -------------------------------------------------------------------------------


def capture_contact(
    db: Database,
    clock: Clock,
    contact: ContactInput,
    *,
    touch: TouchInput | None = None,
) -> CaptureResult:
    """Create or update the person ``contact`` names, and record how they arrived."""
    now = clock.now()
    prepared = prepare_contact(contact)
    prepared_touch = prepare_touch(touch, now=now) if touch else None
    with db.write() as conn:
        return upsert_contacts(conn, [(prepared, prepared_touch)], now=now)[0]


def upsert_contacts(
    conn: Connection,
    items: Sequence[tuple[PreparedContact, PreparedTouch | None]],
    *,
    now: datetime,
) -> list[CaptureResult]:
    """Resolve each item to a contact (existing or new), apply its values, record touches.

    Items that share an identity, in the batch or in storage, land on one contact; the
    values of later items win over earlier ones and over what is stored.
    """
    if not items:
        return []
    groups, row_group = _group_rows([p for p, _ in items])
    existing = lookup_identities(conn, [k for g in groups for k in g.keys])
    account_ids = _upsert_accounts(conn, [p.account for p, _ in items], now=now)
    _apply_groups(conn, groups, items, existing, account_ids, now=now)
    _insert_identities(conn, groups, existing, now=now)
    touch_ids = _record_touches(conn, groups, row_group, items)
    return [
        CaptureResult(
            contact_id=_id(groups[row_group[i]]),
            created=groups[row_group[i]].created,
            touch_id=touch_ids.get(i),
        )
        for i in range(len(items))
    ]


def _group_rows(prepared: Sequence[PreparedContact]) -> tuple[list[_Group], list[int]]:
    """Union rows that share any identity key (a batch may name a person twice)."""
    parent = list(range(len(prepared)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for i, item in enumerate(prepared):
        for key in item.identities:
            if key in owner:
                parent[find(i)] = find(owner[key])
            else:
                owner[key] = i
    groups: dict[int, _Group] = {}
    row_group: list[int] = []
    index: dict[int, int] = {}
    for i, item in enumerate(prepared):
        root = find(i)
        if root not in index:
            index[root] = len(groups)
            groups[index[root]] = _Group()
        group = groups[index[root]]
        group.rows.append(i)
        group.keys.update(dict.fromkeys(item.identities))
        row_group.append(index[root])
    return [groups[i] for i in range(len(groups))], row_group


def lookup_identities(
    conn: Connection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Map (kind, value) identity keys to the contacts that own them."""
    # One query per kind: the unique index is on (kind, value), and a condition on the
    # value alone cannot use it (SQLite then scans the whole table).
    by_kind: dict[str, set[str]] = {}
    for kind, value in keys:
        by_kind.setdefault(kind, set()).add(value)
    found: dict[tuple[str, str], int] = {}
    for kind, values in sorted(by_kind.items()):
        for chunk in chunked(sorted(values)):
            rows = conn.execute(
                select(identities.c.value, identities.c.contact_id).where(
                    identities.c.kind == kind, identities.c.value.in_(chunk)
                )
            ).all()  # one fetch: iterating a result fetches row by row
            found.update(((kind, value), contact_id) for value, contact_id in rows)
    return found


def _upsert_accounts(
    conn: Connection, prepared: Sequence[PreparedAccount | None], *, now: datetime
) -> dict[str, int]:
    """Create accounts for new domains; fill in what existing ones do not know yet."""
    by_domain: dict[str, PreparedAccount] = {}
    for account in prepared:
        if account is not None and account.domain:
            merged = by_domain.get(account.domain)
            by_domain[account.domain] = (
                account if merged is None else _merge_account(merged, account)
            )
    if not by_domain:
        return {}
    ids = _account_ids(conn, by_domain)
    new_rows = [
        {
            **{c: a.values.get(c) for c in ACCOUNT_COLUMNS},
            "domain": d,
            "properties": dict(a.properties),
            "created_at": now,
            "updated_at": now,
        }
        for d, a in by_domain.items()
        if d not in ids
    ]
    execute_many(conn, insert_ignore(conn, accounts), new_rows)
    fills = [
        {"b_id": ids[d], **{f"b_{c}": a.values.get(c) for c in ACCOUNT_COLUMNS}, "b_now": now}
        for d, a in by_domain.items()
        if d in ids and a.values
    ]
    if fills:
        conn.execute(
            update(accounts)
            .where(accounts.c.id == bindparam("b_id"))
            .values(
                {c: func.coalesce(accounts.c[c], bindparam(f"b_{c}")) for c in ACCOUNT_COLUMNS}
                | {"updated_at": bindparam("b_now")}
            ),
            fills,
        )
    return _account_ids(conn, by_domain) if new_rows else ids


def _account_ids(conn: Connection, domains: Iterable[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in chunked(sorted(domains)):
        rows = conn.execute(
            select(accounts.c.domain, accounts.c.id).where(accounts.c.domain.in_(chunk))
        )
        ids.update((domain, account_id) for domain, account_id in rows)
    return ids


def _merge_account(first: PreparedAccount, second: PreparedAccount) -> PreparedAccount:
    # The first account in a batch wins, like an existing account does.
    return PreparedAccount(
        domain=first.domain,
        values={**second.values, **first.values},
        properties={**second.properties, **first.properties},
    )


def _apply_groups(
    conn: Connection,
    groups: list[_Group],
    items: Sequence[tuple[PreparedContact, PreparedTouch | None]],
    existing: dict[tuple[str, str], int],
    account_ids: dict[str, int],
    *,
    now: datetime,
) -> None:
    inserts: list[tuple[_Group, dict[str, Any]]] = []
    updates: list[tuple[_Group, dict[str, Any]]] = []
    for group in groups:
        values, props, domain = _group_values(group, items)
        if domain is not None:
            values["account_id"] = account_ids[domain]
        owners = sorted({existing[k] for k in group.keys if k in existing})
        if owners:
            # When identities point at several contacts, the oldest one takes the capture;
            # `leadflow contacts duplicates` and `merge` settle the rest.
            group.contact_id = owners[0]
            updates.append((group, {**values, "properties": props}))
        else:
            group.created = True
            inserts.append((group, {**values, "properties": props}))
    _insert_contacts(conn, inserts, now=now)
    _update_contacts(conn, updates, now=now)


def _group_values(
    group: _Group, items: Sequence[tuple[PreparedContact, PreparedTouch | None]]
) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    values: dict[str, Any] = {}
    props: dict[str, Any] = {}
    domain = None
    for row in group.rows:
        prepared = items[row][0]
        values.update(prepared.values)
        props.update(prepared.properties)
        if prepared.account is not None and prepared.account.domain:
            domain = prepared.account.domain
    return values, props, domain


def _insert_contacts(
    conn: Connection, inserts: list[tuple[_Group, dict[str, Any]]], *, now: datetime
) -> None:
    if not inserts:
        return
    rows = [
        {
            **{c: v.get(c) for c in (*CONTACT_COLUMNS, "account_id")},
            "properties": v["properties"],
            "status": "active",
            "created_at": now,
            "updated_at": now,
        }
        for _, v in inserts
    ]
    for (group, _), contact_id in zip(inserts, _insert_with_ids(conn, rows), strict=True):
        group.contact_id = contact_id


def _insert_with_ids(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert contacts and give back their ids, in order.

    PostgreSQL batches ``INSERT ... RETURNING`` into multi-row statements. SQLite cannot keep
    RETURNING rows in parameter order for a batch, and SQLAlchemy falls back to one
    statement per row; but a SQLite writer holds the database's only write lock
    (``BEGIN IMMEDIATE``), so it can number the rows itself and run one executemany.
    """
    if conn.dialect.name != "sqlite":
        result = conn.execute(
            contacts.insert().returning(contacts.c.id, sort_by_parameter_order=True), rows
        )
        return [contact_id for (contact_id,) in result.all()]
    start = int(conn.execute(select(func.coalesce(func.max(contacts.c.id), 0))).scalar_one())
    ids = list(range(start + 1, start + 1 + len(rows)))
    conn.execute(contacts.insert(), [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
    return ids


def _update_contacts(
    conn: Connection, updates: list[tuple[_Group, dict[str, Any]]], *, now: datetime
) -> None:
    if not updates:
        return
    stored_props = _properties_of(conn, [_id(g) for g, v in updates if v["properties"]])
    rows = [
        {
            "b_id": _id(g),
            **{f"b_{c}": v.get(c) for c in (*CONTACT_COLUMNS, "account_id")},
            "b_properties": {**stored_props.get(_id(g), {}), **v["properties"]}
            if v["properties"]
            else None,
            "b_now": now,
        }
        for g, v in updates
    ]
    settable = (*CONTACT_COLUMNS, "account_id", "properties")
    conn.execute(
        update(contacts)
        .where(contacts.c.id == bindparam("b_id"))
        .values(
            {
                c: func.coalesce(bindparam(f"b_{c}", type_=contacts.c[c].type), contacts.c[c])
                for c in settable
            }
            | {"updated_at": bindparam("b_now")}
        ),
        rows,
    )


def _properties_of(conn: Connection, contact_ids: list[int]) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for chunk in chunked(contact_ids):
        rows = conn.execute(
            select(contacts.c.id, contacts.c.properties).where(contacts.c.id.in_(chunk))
        )
        found.update({cid: dict(props or {}) for cid, props in rows})
    return found


def _insert_identities(
    conn: Connection,
    groups: list[_Group],
    existing: dict[tuple[str, str], int],
    *,
    now: datetime,
) -> None:
    rows = [
        {"contact_id": _id(g), "kind": kind, "value": value, "created_at": now}
        for g in groups
        for kind, value in g.keys
        if (kind, value) not in existing
    ]
    execute_many(conn, insert_ignore(conn, identities), rows)


def _record_touches(
    conn: Connection,
    groups: list[_Group],
    row_group: list[int],
    items: Sequence[tuple[PreparedContact, PreparedTouch | None]],
) -> dict[int, int]:
    """Insert each item's touch once (idempotent by key); keep first and last touch."""
    pending: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, (prepared, touch) in enumerate(items):
        if touch is None:
            continue
        # Every row names every column: one executemany needs the same keys in each row.
        values = {**_NO_TOUCH_VALUES, **touch.values}
        key = values.get("idempotency_key") or touch_key(prepared, touch.values)
        values["idempotency_key"] = key
        values["contact_id"] = _id(groups[row_group[i]])
        pending[key] = (i, values)
    if not pending:
        return {}
    execute_many(conn, insert_ignore(conn, touches), [v for _, v in pending.values()])
    ids: dict[str, tuple[int, int, datetime]] = {}
    for chunk in chunked(list(pending)):
        rows = conn.execute(
            select(
                touches.c.idempotency_key, touches.c.id, touches.c.contact_id, touches.c.occurred_at
            ).where(touches.c.idempotency_key.in_(chunk))
        )
        ids.update({key: (tid, cid, at) for key, tid, cid, at in rows})
    _set_first_and_last_touch(conn, list(ids.values()))
    return {pending[key][0]: tid for key, (tid, _, _) in ids.items()}


def touch_key(prepared: PreparedContact, values: Mapping[str, Any]) -> str:
    """A touch's idempotency key when the caller gave none: the same capture, the same key."""
    material = json.dumps(
        [prepared.identities[0], {k: v for k, v in values.items() if k != "idempotency_key"}],
        sort_keys=True,
        default=str,
    )
    return "t:" + hashlib.sha256(material.encode()).hexdigest()[:40]


def _set_first_and_last_touch(conn: Connection, found: list[tuple[int, int, datetime]]) -> None:
    """Point each contact at its earliest and latest touch: one read, one write per batch."""
    span: dict[int, tuple[tuple[datetime, int], tuple[datetime, int]]] = {}
    for tid, cid, at in sorted(found, key=lambda f: (f[2], f[0])):
        earliest = span[cid][0] if cid in span else (at, tid)
        span[cid] = (earliest, (at, tid))
    stored = _stored_touch_times(conn, list(span))
    rows = []
    for cid, ((first_at, first_id), (last_at, last_id)) in span.items():
        old_first, old_last = stored.get(cid, (None, None))
        new_first = first_id if old_first is None or first_at < old_first else None
        new_last = last_id if old_last is None or last_at >= old_last else None
        if new_first is not None or new_last is not None:
            rows.append({"b_id": cid, "b_first": new_first, "b_last": new_last})
    execute_many(
        conn,
        update(contacts)
        .where(contacts.c.id == bindparam("b_id"))
        .values(
            first_touch_id=func.coalesce(bindparam("b_first"), contacts.c.first_touch_id),
            last_touch_id=func.coalesce(bindparam("b_last"), contacts.c.last_touch_id),
        ),
        rows,
    )


def _stored_touch_times(
    conn: Connection, contact_ids: list[int]
) -> dict[int, tuple[datetime | None, datetime | None]]:
    first = touches.alias("first_touch")
    last = touches.alias("last_touch")
    found: dict[int, tuple[datetime | None, datetime | None]] = {}
    for chunk in chunked(contact_ids):
        rows = conn.execute(
            select(contacts.c.id, first.c.occurred_at, last.c.occurred_at)
            .select_from(contacts)
            .outerjoin(first, first.c.id == contacts.c.first_touch_id)
            .outerjoin(last, last.c.id == contacts.c.last_touch_id)
            .where(contacts.c.id.in_(chunk))
        ).all()
        found.update((cid, (first_at, last_at)) for cid, first_at, last_at in rows)
    return found


def _id(group: _Group) -> int:
    assert group.contact_id is not None, "contact ids are assigned before use"
    return group.contact_id
