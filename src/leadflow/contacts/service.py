"""What can be done with contacts and accounts: capture with identity resolution, read, list.

Capture is set-based: a batch of prepared contacts costs a fixed number of statements
(identity lookup, account upsert, contact insert/update, identity insert, touch insert),
whatever its size. A single capture is a batch of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from leadflow.clock import Clock
from leadflow.contacts.engine import (
    PreparedAccount,
    PreparedContact,
    PreparedTouch,
    prepare_contact,
    prepare_touch,
)
from leadflow.contacts.inputs import ContactInput, TouchInput
from leadflow.contacts.models import accounts, contacts, identities
from leadflow.contacts.touch_log import plan_touches, record_touches, touch_key
from leadflow.contacts.wire import (
    ACCOUNT_COLUMNS,
    CONTACT_COLUMNS,
    Wire,
    allocate_ids,
    execute_rows,
    select_in,
    wire_for,
)
from leadflow.storage.database import Database
from leadflow.storage.sql import chunked

__all__ = [
    "ACCOUNT_COLUMNS",
    "CONTACT_COLUMNS",
    "CaptureResult",
    "capture_contact",
    "lookup_identities",
    "touch_key",
    "upsert_contacts",
]


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
    wire = wire_for(conn)
    stored_now = wire.time(now)  # converted once for every row of the batch
    groups, row_group = _group_rows([p for p, _ in items])
    existing = lookup_identities(conn, [k for g in groups for k in g.keys])
    account_ids = _upsert_accounts(conn, wire, [p.account for p, _ in items], now=stored_now)
    inserts, updates = _resolve_groups(conn, wire, groups, items, existing, account_ids)
    plan = plan_touches(
        conn, wire, [(p, t, _id(groups[g])) for (p, t), g in zip(items, row_group, strict=True)]
    )
    fresh = {_id(g) for g, _ in inserts}
    _insert_contacts(conn, wire, inserts, plan.ends(fresh), now=stored_now)
    _update_contacts(conn, wire, updates, now=stored_now)
    _insert_identities(conn, wire, groups, existing, now=stored_now)
    touch_ids = record_touches(conn, wire, plan, fresh)
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
    owner: dict[tuple[str, str], int] = {}
    shared: list[tuple[int, int]] = []
    for i, item in enumerate(prepared):
        for key in item.identities:
            first = owner.setdefault(key, i)
            if first != i:
                shared.append((i, first))
    if not shared:  # the common case: every row names a different person
        groups = [
            _Group(rows=[i], keys=dict.fromkeys(p.identities)) for i, p in enumerate(prepared)
        ]
        return groups, list(range(len(prepared)))
    return _union(prepared, shared)


def _union(
    prepared: Sequence[PreparedContact], shared: list[tuple[int, int]]
) -> tuple[list[_Group], list[int]]:
    parent = list(range(len(prepared)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, first in shared:
        parent[find(i)] = find(first)
    involved = {i for pair in shared for i in pair}  # the other rows are their own roots
    groups: list[_Group] = []
    row_group: list[int] = []
    index: dict[int, int] = {}
    for i, item in enumerate(prepared):
        root = find(i) if i in involved else i
        if root not in index:
            index[root] = len(groups)
            groups.append(_Group())
        group = groups[index[root]]
        group.rows.append(i)
        group.keys.update(dict.fromkeys(item.identities))
        row_group.append(index[root])
    return groups, row_group


def lookup_identities(
    conn: Connection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Map (kind, value) identity keys to the contacts that own them."""
    # One query per kind: the unique index is on (kind, value), and a condition on the
    # value alone cannot use it (SQLite then scans the whole table).
    by_kind: dict[str, set[str]] = {}
    for kind, value in keys:
        by_kind.setdefault(kind, set()).add(value)
    wire = wire_for(conn)
    q, mark = wire.quote, wire.mark
    head = (
        f"SELECT {q('value')}, {q('contact_id')} FROM {q(identities.name)} "
        f"WHERE {q('kind')} = {mark} AND {q('value')}"
    )
    found: dict[tuple[str, str], int] = {}
    for kind, values in sorted(by_kind.items()):
        rows = select_in(conn, wire, head, sorted(values), kind)
        found.update(((kind, value), contact_id) for value, contact_id in rows)
    return found


def _upsert_accounts(
    conn: Connection,
    wire: Wire,
    prepared: Sequence[PreparedAccount | None],
    *,
    now: Any,
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
    stored = _stored_accounts(conn, wire, by_domain)
    new = [d for d in by_domain if d not in stored]
    new_ids = dict(zip(new, allocate_ids(conn, wire, accounts, len(new)), strict=True))
    new_rows = [_new_account(wire, i, d, by_domain[d], now) for d, i in new_ids.items()]
    inserted = execute_rows(conn, wire.insert_accounts, new_rows)
    fills = []
    for domain, account in by_domain.items():
        if domain in stored and account.values:
            values = _account_values(wire, account)
            if _fills(stored[domain], values, now):
                fills.append((*values, now, stored[domain][0]))
    execute_rows(conn, wire.fill_accounts, fills)
    if inserted < len(new_rows):  # another writer created some of them meanwhile
        stored, new_ids = _stored_accounts(conn, wire, by_domain), {}
    return {domain: row[0] for domain, row in stored.items()} | new_ids


def _new_account(
    wire: Wire, account_id: int, domain: str, account: PreparedAccount, now: Any
) -> tuple[Any, ...]:
    values = _account_values(wire, account)
    return (account_id, domain, *values, wire.json(dict(account.properties)), now, now)


def _fills(stored: Sequence[Any], values: Sequence[Any], now: Any) -> bool:
    """Whether filling a stored account (id, *ACCOUNT_COLUMNS, updated_at) changes it.

    An account a previous batch of the same import already filled at ``now`` is left
    alone, which saves one UPDATE per contact of every known company.
    """
    if stored[-1] != now:
        return True
    return any(
        old is None and new is not None for old, new in zip(stored[1:-1], values, strict=True)
    )


def _account_values(wire: Wire, account: PreparedAccount) -> tuple[Any, ...]:
    get = account.values.get
    return (
        get("name"),
        get("industry"),
        get("employee_count"),
        wire.amount(get("annual_revenue")),
        get("country"),
    )


def _stored_accounts(conn: Connection, wire: Wire, domains: Iterable[str]) -> dict[str, Any]:
    """domain -> (id, *ACCOUNT_COLUMNS, updated_at) as the driver gives them."""
    q = wire.quote
    columns = ", ".join(map(q, ("domain", "id", *ACCOUNT_COLUMNS, "updated_at")))
    head = f"SELECT {columns} FROM {q(accounts.name)} WHERE {q('domain')}"
    return {row[0]: tuple(row[1:]) for row in select_in(conn, wire, head, sorted(domains))}


def _merge_account(first: PreparedAccount, second: PreparedAccount) -> PreparedAccount:
    # The first account in a batch wins, like an existing account does.
    return PreparedAccount(
        domain=first.domain,
        values={**second.values, **first.values},
        properties={**second.properties, **first.properties},
    )


_Planned = list[tuple[_Group, dict[str, Any]]]


def _resolve_groups(
    conn: Connection,
    wire: Wire,
    groups: list[_Group],
    items: Sequence[tuple[PreparedContact, PreparedTouch | None]],
    existing: dict[tuple[str, str], int],
    account_ids: dict[str, int],
) -> tuple[_Planned, _Planned]:
    """Each group's contact: an existing one to update, or a new one (its id allocated)."""
    inserts: _Planned = []
    updates: _Planned = []
    for group in groups:
        values = _group_values(group, items)
        domain = values.pop("account_domain", None)
        if domain is not None:
            values["account_id"] = account_ids[domain]
        owners = sorted({existing[k] for k in group.keys if k in existing})
        if owners:
            # When identities point at several contacts, the oldest one takes the capture;
            # `leadflow contacts duplicates` and `merge` settle the rest.
            group.contact_id = owners[0]
            updates.append((group, values))
        else:
            group.created = True
            inserts.append((group, values))
    for (group, _), contact_id in zip(
        inserts, allocate_ids(conn, wire, contacts, len(inserts)), strict=True
    ):
        group.contact_id = contact_id
    return inserts, updates


def _group_values(
    group: _Group, items: Sequence[tuple[PreparedContact, PreparedTouch | None]]
) -> dict[str, Any]:
    """The group's merged column values, its ``properties`` and its ``account_domain``."""
    if len(group.rows) == 1:  # the common case: nothing to merge
        prepared = items[group.rows[0]][0]
        account = prepared.account
        return {
            **prepared.values,
            "properties": prepared.properties,
            "account_domain": account.domain if account is not None else None,
        }
    values: dict[str, Any] = {}
    props: dict[str, Any] = {}
    domain = None
    for row in group.rows:
        prepared = items[row][0]
        values.update(prepared.values)
        props.update(prepared.properties)
        if prepared.account is not None and prepared.account.domain:
            domain = prepared.account.domain
    return {**values, "properties": props, "account_domain": domain}


def _insert_contacts(
    conn: Connection,
    wire: Wire,
    inserts: _Planned,
    ends: dict[int, tuple[int, int]],
    *,
    now: Any,
) -> None:
    rows = []
    for group, v in inserts:
        contact_id = _id(group)
        first, last = ends.get(contact_id, (None, None))
        get = v.get
        rows.append(
            (
                contact_id,
                get("account_id"),
                "active",
                *[get(c) for c in CONTACT_COLUMNS],
                wire.json(dict(v["properties"])),
                first,
                last,
                now,
                now,
            )
        )
    execute_rows(conn, wire.insert_contacts, rows)


def _update_contacts(conn: Connection, wire: Wire, updates: _Planned, *, now: Any) -> None:
    if not updates:
        return
    stored_props = _properties_of(conn, [_id(g) for g, v in updates if v["properties"]])
    rows = []
    for g, v in updates:
        props = v["properties"]
        merged = wire.json({**stored_props.get(_id(g), {}), **props}) if props else None
        get = v.get
        rows.append((*[get(c) for c in CONTACT_COLUMNS], get("account_id"), merged, now, _id(g)))
    execute_rows(conn, wire.update_contacts, rows)


def _properties_of(conn: Connection, contact_ids: list[int]) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for chunk in chunked(contact_ids):
        rows = conn.execute(
            select(contacts.c.id, contacts.c.properties).where(contacts.c.id.in_(chunk))
        ).all()
        found.update({cid: dict(props or {}) for cid, props in rows})
    return found


def _insert_identities(
    conn: Connection,
    wire: Wire,
    groups: list[_Group],
    existing: dict[tuple[str, str], int],
    *,
    now: Any,
) -> None:
    rows = [
        (_id(g), kind, value, now)
        for g in groups
        for kind, value in g.keys
        if (kind, value) not in existing
    ]
    execute_rows(conn, wire.insert_identities, rows)


def _id(group: _Group) -> int:
    assert group.contact_id is not None, "contact ids are assigned before use"
    return group.contact_id
