"""What can be done with contacts and accounts: capture with identity resolution, read, list.

Capture is set-based: a batch of prepared contacts costs a fixed number of statements
(identity lookup, account upsert, contact insert/update, identity insert, touch insert),
whatever its size. A single capture is a batch of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
from leadflow.contacts.touch_log import (
    TOUCH_TEXT,
    TouchRow,
    plan_touches,
    record_touches,
    touch_key,
)
from leadflow.contacts.wire import (
    ACCOUNT_COLUMNS,
    CONTACT_COLUMNS,
    RARE_CONTACT_COLUMNS,
    Wire,
    allocate_ids,
    execute_rows,
    select_in,
    wire_for,
)
from leadflow.storage.database import Database
from leadflow.storage.sql import chunked
from leadflow.webhooks.engine import CONTACT_CREATED, contact_created
from leadflow.webhooks.service import publish

__all__ = [
    "ACCOUNT_COLUMNS",
    "CONTACT_COLUMNS",
    "BatchResult",
    "CaptureResult",
    "CaptureRow",
    "Written",
    "capture_contact",
    "capture_row",
    "lookup_identities",
    "touch_key",
    "upsert_contacts",
    "upsert_rows",
]


# A capture as :func:`upsert_rows` takes it, in plain tuples (None: a value not given):
# (identity keys, CONTACT_COLUMNS values, properties, account or None, touch or None).
AccountRow = tuple[str | None, tuple[Any, ...], Mapping[str, Any]]  # domain, ACCOUNT_COLUMNS, props
CaptureRow = tuple[
    tuple[tuple[str, str], ...],
    tuple[Any, ...],
    Mapping[str, Any],
    AccountRow | None,
    TouchRow | None,
]


@dataclass(frozen=True)
class BatchResult:
    contact_ids: list[int]  # each row's contact
    created: set[int]  # the contacts the batch created
    touch_ids: dict[int, int]  # row -> its touch's id


@dataclass(frozen=True)
class CaptureResult:
    contact_id: int
    created: bool
    touch_id: int | None = None


@dataclass
class Written:
    """What one transaction has written so far, for its later batches (an import's).

    Accounts this transaction inserted or filled, as storage now holds them: (id,
    *ACCOUNT_COLUMNS, updated_at) in driver values, by domain. Those rows cannot change under
    the transaction (SQLite: it holds the write lock; PostgreSQL: it holds their row locks
    until it ends), so later batches need not read them again. Only valid inside the
    transaction that wrote them.
    """

    accounts: dict[str, tuple[Any, ...]] = field(default_factory=dict)


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
    score: bool = True,
) -> list[CaptureResult]:
    """Resolve each item to a contact (existing or new), apply its values, record touches.

    Items that share an identity, in the batch or in storage, land on one contact; the
    values of later items win over earlier ones and over what is stored. ``score=False``
    leaves the contacts' scores to the caller (the event path scores the contacts its events
    create when it folds those events).
    """
    batch = upsert_rows(conn, [capture_row(p, t) for p, t in items], now=now)
    # What a capture changes may change fit: its contacts are scored again, in the same
    # transaction. (Imported here: scoring builds on contacts, so contacts cannot import it
    # first.) The import path writes with upsert_rows and leaves this to the import.
    from leadflow.lifecycle.service import apply_rules, capture_criteria
    from leadflow.scoring.service import score_contacts

    ids = sorted(set(batch.contact_ids))
    if score:
        score_contacts(conn, ids, now=now)
    # Form answers fill qualification criteria; then the lifecycle's rules run, as after
    # any change of score or qualification.
    answers = {cid: p.properties for (p, _), cid in zip(items, batch.contact_ids, strict=True)}
    capture_criteria(conn, answers, now=now, by="form")
    apply_rules(conn, ids, now=now)
    return [
        CaptureResult(contact_id=cid, created=cid in batch.created, touch_id=batch.touch_ids.get(i))
        for i, cid in enumerate(batch.contact_ids)
    ]


def upsert_rows(
    conn: Connection,
    rows: Sequence[CaptureRow],
    *,
    now: datetime,
    written: Written | None = None,
) -> BatchResult:
    """:func:`upsert_contacts` for captures already in :data:`CaptureRow` form.

    The importer's worker processes build these rows, so this process unpickles plain
    tuples and builds no object per row. A caller writing many batches in one transaction
    passes the same ``written`` to each, so accounts are read from storage once.
    """
    if not rows:
        return BatchResult([], set(), {})
    wire = wire_for(conn)
    stored_now = wire.time(now)  # converted once for every row of the batch
    groups, row_group = _group_rows([r[0] for r in rows])
    existing = lookup_identities(conn, [k for g in groups for k in g.keys])
    account_ids = _upsert_accounts(
        conn, wire, [r[3] for r in rows], now=stored_now, written=written or Written()
    )
    inserts, updates = _resolve_groups(conn, wire, groups, rows, existing, account_ids)
    contact_ids = [_id(groups[g]) for g in row_group]
    plan = plan_touches(conn, wire, [(r[4], cid) for r, cid in zip(rows, contact_ids, strict=True)])
    fresh = {_id(p[0]) for p in inserts}
    _insert_contacts(conn, wire, inserts, plan.ends(fresh), now=stored_now)
    publish(conn, CONTACT_CREATED, (contact_created(_id(p[0]), now) for p in inserts), now=now)
    _update_contacts(conn, wire, updates, now=stored_now)
    _insert_identities(conn, wire, groups, existing, now=stored_now)
    return BatchResult(contact_ids, fresh, record_touches(conn, wire, plan, fresh))


def capture_row(prepared: PreparedContact, touch: PreparedTouch | None) -> CaptureRow:
    """A prepared capture as plain tuples: cheap to pickle, read by position."""
    get = prepared.values.get
    account = prepared.account
    return (
        prepared.identities,
        tuple([get(c) for c in CONTACT_COLUMNS]),
        prepared.properties,
        None if account is None else _account_row(account),
        None if touch is None else _touch_row(prepared, touch),
    )


def _account_row(account: PreparedAccount) -> AccountRow:
    get = account.values.get
    return (account.domain, tuple([get(c) for c in ACCOUNT_COLUMNS]), account.properties)


def _touch_row(prepared: PreparedContact, touch: PreparedTouch) -> TouchRow:
    values = touch.values
    key = values.get("idempotency_key") or touch_key(prepared, values)
    text = tuple([values.get(name) for name in TOUCH_TEXT])
    return (key, values["channel"], text, values["occurred_at"])


def _group_rows(
    identities: Sequence[tuple[tuple[str, str], ...]],
) -> tuple[list[_Group], list[int]]:
    """Union rows that share any identity key (a batch may name a person twice)."""
    owner: dict[tuple[str, str], int] = {}
    shared: list[tuple[int, int]] = []
    for i, keys in enumerate(identities):
        for key in keys:
            first = owner.setdefault(key, i)
            if first != i:
                shared.append((i, first))
    if not shared:  # the common case: every row names a different person
        groups = [_Group(rows=[i], keys=dict.fromkeys(k)) for i, k in enumerate(identities)]
        return groups, list(range(len(identities)))
    return _union(identities, shared)


def _union(
    identities: Sequence[tuple[tuple[str, str], ...]], shared: list[tuple[int, int]]
) -> tuple[list[_Group], list[int]]:
    parent = list(range(len(identities)))

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
    for i, keys in enumerate(identities):
        root = find(i) if i in involved else i
        if root not in index:
            index[root] = len(groups)
            groups.append(_Group())
        group = groups[index[root]]
        group.rows.append(i)
        group.keys.update(dict.fromkeys(keys))
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
    prepared: Sequence[AccountRow | None],
    *,
    now: Any,
    written: Written,
) -> dict[str, int]:
    """Create accounts for new domains; fill in what existing ones do not know yet."""
    by_domain: dict[str, AccountRow] = {}
    for account in prepared:
        if account is not None and account[0]:
            merged = by_domain.get(account[0])
            by_domain[account[0]] = account if merged is None else _merge_account(merged, account)
    if not by_domain:
        return {}
    known = written.accounts
    stored = _stored_accounts(conn, wire, [d for d in by_domain if d not in known])
    stored.update((d, known[d]) for d in by_domain if d in known)
    new = [d for d in by_domain if d not in stored]
    new_ids = dict(zip(new, allocate_ids(conn, wire, accounts, len(new)), strict=True))
    new_rows = [_new_account(wire, i, d, by_domain[d], now) for d, i in new_ids.items()]
    inserted = execute_rows(conn, wire.insert_accounts, new_rows)
    fills = []
    for domain, (_, given, _) in by_domain.items():
        if domain in stored and given != _NO_ACCOUNT_VALUES:
            values = _account_values(wire, given)
            if _fills(stored[domain], values, now):
                fills.append((*values, now, stored[domain][0]))
                known[domain] = _filled(stored[domain], values, now)
    execute_rows(conn, wire.fill_accounts, fills)
    if inserted < len(new_rows):  # another writer created some of them meanwhile
        stored, new_ids = _stored_accounts(conn, wire, by_domain), {}
    else:
        known.update((d, (r[0], *r[2:7], now)) for d, r in zip(new_ids, new_rows, strict=True))
    return {domain: row[0] for domain, row in stored.items()} | new_ids


def _new_account(
    wire: Wire, account_id: int, domain: str, account: AccountRow, now: Any
) -> tuple[Any, ...]:
    values = _account_values(wire, account[1])
    return (account_id, domain, *values, wire.json(dict(account[2])), now, now)


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


_NO_ACCOUNT_VALUES = (None,) * len(ACCOUNT_COLUMNS)  # a capture that says nothing to fill


def _filled(stored: Sequence[Any], values: Sequence[Any], now: Any) -> tuple[Any, ...]:
    """A stored account (id, *ACCOUNT_COLUMNS, updated_at) after ``fill_accounts``."""
    kept = [new if old is None else old for old, new in zip(stored[1:-1], values, strict=True)]
    return (stored[0], *kept, now)


def _account_values(wire: Wire, given: tuple[Any, ...]) -> tuple[Any, ...]:
    """ACCOUNT_COLUMNS' values as the driver takes them (only the amount converts)."""
    name, industry, employee_count, annual_revenue, country = given
    return (name, industry, employee_count, wire.amount(annual_revenue), country)


def _stored_accounts(conn: Connection, wire: Wire, domains: Iterable[str]) -> dict[str, Any]:
    """domain -> (id, *ACCOUNT_COLUMNS, updated_at) as the driver gives them."""
    q = wire.quote
    columns = ", ".join(map(q, ("domain", "id", *ACCOUNT_COLUMNS, "updated_at")))
    head = f"SELECT {columns} FROM {q(accounts.name)} WHERE {q('domain')}"
    return {row[0]: tuple(row[1:]) for row in select_in(conn, wire, head, sorted(domains))}


def _merge_account(first: AccountRow, second: AccountRow) -> AccountRow:
    # The first account in a batch wins, like an existing account does.
    return (first[0], _later_wins(second[1], first[1]), {**second[2], **first[2]})


def _later_wins(earlier: tuple[Any, ...], later: tuple[Any, ...]) -> tuple[Any, ...]:
    """Column values merged: what ``later`` gives, else what ``earlier`` gave (None: not given)."""
    return tuple([old if new is None else new for old, new in zip(earlier, later, strict=True)])


# Per contact: its group, its CONTACT_COLUMNS values, its properties, its account id.
_Planned = list[tuple[_Group, tuple[Any, ...], Mapping[str, Any], int | None]]


def _resolve_groups(
    conn: Connection,
    wire: Wire,
    groups: list[_Group],
    rows: Sequence[CaptureRow],
    existing: dict[tuple[str, str], int],
    account_ids: dict[str, int],
) -> tuple[_Planned, _Planned]:
    """Each group's contact: an existing one to update, or a new one (its id allocated)."""
    inserts: _Planned = []
    updates: _Planned = []
    for group in groups:
        values, props, domain = _group_values(group, rows)
        planned = (group, values, props, account_ids[domain] if domain else None)
        owners = [existing[k] for k in group.keys if k in existing] if existing else None
        if owners:
            # When identities point at several contacts, the oldest one takes the capture;
            # `leadflow contacts duplicates` and `merge` settle the rest.
            group.contact_id = min(owners)
            updates.append(planned)
        else:
            group.created = True
            inserts.append(planned)
    for planned, contact_id in zip(
        inserts, allocate_ids(conn, wire, contacts, len(inserts)), strict=True
    ):
        planned[0].contact_id = contact_id
    return inserts, updates


def _group_values(
    group: _Group, rows: Sequence[CaptureRow]
) -> tuple[tuple[Any, ...], Mapping[str, Any], str | None]:
    """The group's merged column values, its properties and its account's domain."""
    if len(group.rows) == 1:  # the common case: nothing to merge
        _, values, props, account, _ = rows[group.rows[0]]
        return values, props, account[0] if account is not None else None
    merged: tuple[Any, ...] = (None,) * len(CONTACT_COLUMNS)
    merged_props: dict[str, Any] = {}
    domain = None
    for row in group.rows:
        _, values, props, account, _ = rows[row]
        merged = _later_wins(merged, values)
        merged_props.update(props)
        if account is not None and account[0]:
            domain = account[0]
    return merged, merged_props, domain


def _insert_contacts(
    conn: Connection,
    wire: Wire,
    inserts: _Planned,
    ends: dict[int, tuple[int, int]],
    *,
    now: Any,
) -> None:
    if not inserts:
        return
    rows = []
    json = wire.json
    # New contacts start in the lifecycle's initial stage, entered when they were created.
    # (Imported here: lifecycle builds on contacts.)
    from leadflow.lifecycle.service import initial_stage

    stage = initial_stage(conn)
    entered = now if stage is not None else None
    common = []
    for group, values, props, account_id in inserts:
        contact_id = _id(group)
        first, last = ends.get(contact_id, (None, None))
        props_json = json(dict(props))
        head, tail = (contact_id, account_id, "active"), (props_json, first, last, stage, entered)
        if values[-2:] == _NO_RARE_VALUES:
            common.append((*head, *values[:-2], *tail, now, now))
        else:
            rows.append((*head, *values, *tail, now, now))
    execute_rows(conn, wire.insert_contacts, rows)
    execute_rows(conn, wire.insert_common_contacts, common)


_NO_RARE_VALUES = (None,) * len(RARE_CONTACT_COLUMNS)


def _update_contacts(conn: Connection, wire: Wire, updates: _Planned, *, now: Any) -> None:
    if not updates:
        return
    stored_props = _properties_of(conn, [_id(u[0]) for u in updates if u[2]])
    rows = []
    for group, values, props, account_id in updates:
        contact_id = _id(group)
        merged = wire.json({**stored_props.get(contact_id, {}), **props}) if props else None
        rows.append((*values, account_id, merged, now, contact_id))
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
