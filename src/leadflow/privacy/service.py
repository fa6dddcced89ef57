"""Privacy requests: export everything held about a person, and erase it.

A person is a live contact and every contact merged into it: a merge moved their
identities, touches and activities to the survivor, so their data is now the survivor's.
A reference to a merged contact leads to its survivor, as everywhere else.

Erasure is one write transaction. It removes what says who the person is (names, emails,
phones, title, custom properties, identities, free text) and keeps what reports count (the
contact row as an anonymous tombstone with its stage and dates, the channel and campaign
of each touch, each activity's type and time, scores, deals' amounts and stages), so the
funnel and the stage counts are the same before and after. An ``erasures`` row records who
asked, when, and how many rows were cleared; erasing again clears whatever arrived since
(usually nothing) and records the request again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    Table,
    bindparam,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)

from leadflow.activity.models import activities
from leadflow.clock import Clock
from leadflow.contacts.models import accounts, contacts, identities, merges, touches
from leadflow.contacts.queries import resolve_contact_id
from leadflow.contacts.wire import CONTACT_COLUMNS
from leadflow.errors import ValidationError
from leadflow.lifecycle.models import deals, qualifications, stage_transitions
from leadflow.privacy.models import erasures
from leadflow.routing.models import notices, tasks
from leadflow.scoring.models import contact_scores, score_history
from leadflow.storage.database import Database
from leadflow.webhooks.models import webhook_events

__all__ = [
    "CONTACT_REFERENCES",
    "PERSONAL_FIELDS",
    "Erasure",
    "ErasurePlan",
    "erase_contact",
    "erasure_plan",
    "export_contact",
]

# The contact's columns that say who the person is: every field a capture writes about
# them (one list, so a field added to captures is erased too). Erasure sets them to NULL
# (and the custom properties to {}); stage, owner, account, touch pointers and dates stay.
PERSONAL_FIELDS = CONTACT_COLUMNS

# Tables whose rows belong to the person, exported whole under the table's name.
OWNED_TABLES = (
    identities,
    touches,
    activities,
    contact_scores,
    score_history,
    stage_transitions,
    qualifications,
    deals,
    tasks,
    erasures,
)

# Every column that names a contact, with the export section that holds its rows and what
# erasure does with them. A new table that refers to contacts must be added here (a test
# checks), so that an export stays complete and an erasure leaves nothing behind.
CONTACT_REFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("contacts", "merged_into_id"): ("merged_contacts", "anonymised as the contact is"),
    ("identities", "contact_id"): ("identities", "deleted"),
    ("touches", "contact_id"): (
        "touches",
        "referrer, landing page, UTM term and content cleared; channel, campaign, UTM "
        "source, medium and campaign, and time kept",
    ),
    ("activities", "contact_id"): ("activities", "properties cleared; type and times kept"),
    ("contact_scores", "contact_id"): ("contact_scores", "kept (numbers and rule names)"),
    ("score_history", "contact_id"): ("score_history", "kept (numbers and grades)"),
    ("stage_transitions", "contact_id"): ("stage_transitions", "reason cleared; moves kept"),
    ("qualifications", "contact_id"): ("qualifications", "deleted (values may be free text)"),
    ("deals", "contact_id"): (
        "deals",
        "name replaced by 'deal <id>', reason cleared; amount, stage, status, dates kept",
    ),
    ("tasks", "contact_id"): (
        "tasks",
        "title replaced by its kind, note cleared; open ones cancelled",
    ),
    ("merges", "survivor_id"): ("merges", "snapshot reduced to the counts moved, reason cleared"),
    ("merges", "merged_id"): ("merges", "snapshot reduced to the counts moved, reason cleared"),
    ("erasures", "contact_id"): ("erasures", "kept (holds no personal data)"),
}
# Records that name a contact inside a JSON document rather than in a column.
JSON_REFERENCES = {
    "notices": "data.contact_id; free text (body, reason) removed, ids and times kept",
    "webhook_events": "payload.contact_id or payload.contact.id; keys other than ids, codes, "
    "numbers and times removed",
}

# What a notice about an erased contact keeps: ids, times, the rule, and the recipient's
# (a salesperson's) address, which delivery of a pending notice still needs.
NOTICE_KEPT = ("contact_id", "task_id", "due_at", "rule", "owner", "email")
# The keys of a webhook event's payload that hold ids, codes, numbers and times: all that
# leadflow's own payloads carry (leadflow.webhooks.engine). Any other key of a payload about
# an erased person is removed, and a nested ``contact`` object keeps only its id.
EVENT_KEPT = (
    *("contact_id", "deal_id", "task_id", "owner_id", "team", "rule", "by", "cause"),
    *("from_stage", "to_stage", "before", "after", "total", "threshold", "model_version"),
    *("amount", "currency", "at", "created_at", "closed_at", "first_touch_due_at"),
)
ERASED = "erased:"  # the prefix of an erased touch's or activity's idempotency key


@dataclass(frozen=True)
class Erasure:
    """One erasure request as recorded: what it cleared, by kind of record."""

    id: int
    contact_id: int
    merged_ids: tuple[int, ...]  # the contacts merged into it, erased with it
    requested_by: str
    erased_at: datetime
    removed: Mapping[str, int]
    previously_erased_at: datetime | None  # set when the person had been erased before

    def as_dict(self) -> dict[str, Any]:
        return {
            "erasure_id": self.id,
            "contact_id": self.contact_id,
            "merged_ids": list(self.merged_ids),
            "requested_by": self.requested_by,
            "erased_at": self.erased_at,
            "previously_erased_at": self.previously_erased_at,
            **{f"removed_{kind}": count for kind, count in self.removed.items()},
        }


@dataclass(frozen=True)
class ErasurePlan:
    """Whom an erasure of a reference would erase, read without writing (to confirm)."""

    contact_id: int
    merged_ids: tuple[int, ...]
    name: str | None
    email: str | None
    identities: int
    erased_at: datetime | None  # when the person was first erased, if ever


# -- export ----------------------------------------------------------------------------------


def export_contact(db: Database, contact_ref: str | int) -> dict[str, Any]:
    """Everything held about the person ``contact_ref`` names (an id, email, +phone or
    ``kind:value``), as JSON-ready values: one section per kind of record. Raises
    :class:`NotFound` for an unknown reference."""
    with db.read() as conn:
        contact_id = resolve_contact_id(conn, contact_ref)
        ids = person_ids(conn, contact_id)
        held = _held(conn, contact_id, ids)
    exported: dict[str, Any] = to_jsonable_python(held)
    return exported


def _held(conn: Connection, contact_id: int, ids: list[int]) -> dict[str, Any]:
    contact = _rows(conn, select(contacts).where(contacts.c.id == contact_id))[0]
    account = None
    if contact["account_id"] is not None:
        account = _rows(conn, select(accounts).where(accounts.c.id == contact["account_id"]))[0]
    held: dict[str, Any] = {
        "contact": contact,
        "account": account,
        "merged_contacts": _rows(
            conn, select(contacts).where(contacts.c.id.in_(ids[1:])).order_by(contacts.c.id)
        ),
    }
    for table in OWNED_TABLES:
        query = select(table).where(table.c.contact_id.in_(ids))
        held[table.name] = _rows(conn, query.order_by(*table.primary_key.columns))
    held["merges"] = _rows(conn, select(merges).where(_merges_of(ids)).order_by(merges.c.id))
    held["notices"] = _rows(conn, select(notices).where(_notice_about(ids)).order_by(notices.c.id))
    held["webhook_events"] = _rows(
        conn, select(webhook_events).where(_event_about(ids)).order_by(webhook_events.c.id)
    )
    return held


def person_ids(conn: Connection, contact_id: int) -> list[int]:
    """The live contact's id first, then every contact merged into it (at any depth: a
    merge re-points older tombstones, but a tombstone is followed however it was left)."""
    found = [contact_id]
    frontier = [contact_id]
    while frontier:
        merged = conn.execute(
            select(contacts.c.id)
            .where(contacts.c.merged_into_id.in_(frontier), contacts.c.id.not_in(found))
            .order_by(contacts.c.id)
        ).scalars()
        frontier = list(merged)
        found += frontier
    return found


def _rows(conn: Connection, query: Select[Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(query).mappings()]


def _merges_of(ids: list[int]) -> ColumnElement[bool]:
    return or_(merges.c.survivor_id.in_(ids), merges.c.merged_id.in_(ids))


def _notice_about(ids: list[int]) -> ColumnElement[bool]:
    about: ColumnElement[bool] = notices.c.data["contact_id"].as_integer().in_(ids)
    return about


def _event_about(ids: list[int]) -> ColumnElement[bool]:
    payload = webhook_events.c.payload
    return or_(
        payload["contact_id"].as_integer().in_(ids),
        payload[("contact", "id")].as_integer().in_(ids),
    )


# -- erasure ---------------------------------------------------------------------------------


def erasure_plan(db: Database, contact_ref: str | int) -> ErasurePlan:
    """Whom :func:`erase_contact` would erase for ``contact_ref``; raises as it would."""
    with db.read() as conn:
        contact_id = resolve_contact_id(conn, contact_ref)
        ids = person_ids(conn, contact_id)
        row = conn.execute(select(contacts).where(contacts.c.id == contact_id)).mappings().one()
        held = conn.execute(
            select(func.count()).select_from(identities).where(identities.c.contact_id.in_(ids))
        ).scalar_one()
        name = " ".join(p for p in (row["first_name"], row["last_name"]) if p) or None
        return ErasurePlan(
            contact_id=contact_id,
            merged_ids=tuple(ids[1:]),
            name=name,
            email=row["email"],
            identities=int(held),
            erased_at=_first_erasure(conn, contact_id),
        )


def _first_erasure(conn: Connection, contact_id: int) -> datetime | None:
    first: datetime | None = conn.execute(
        select(erasures.c.erased_at)
        .where(erasures.c.contact_id == contact_id)
        .order_by(erasures.c.erased_at, erasures.c.id)
    ).scalar()
    return first


def erase_contact(
    db: Database, clock: Clock, contact_ref: str | int, *, requested_by: str
) -> Erasure:
    """Erase the person ``contact_ref`` names, and every contact merged into it, in one
    transaction; see the module's docstring for what goes and what stays.

    Erasing an erased contact is harmless: it clears whatever was recorded about the
    tombstone since (usually nothing, so every count is 0), records the request again and
    says when the person was first erased (``previously_erased_at``).
    """
    by = requested_by.strip()
    if not by:
        raise ValidationError("must say who asks for the erasure", field="requested_by")
    now = clock.now()
    with db.write() as conn, _secure_delete(conn):
        ids = _locked_person(conn, contact_ref)
        contact_id = ids[0]
        before = _first_erasure(conn, contact_id)
        removed = {kind: step(conn, ids, now) for kind, step in ERASE_STEPS}
        row = {"contact_id": contact_id, "requested_by": by, "erased_at": now, "removed": removed}
        erasure_id = conn.execute(erasures.insert().returning(erasures.c.id), row).scalar_one()
    _checkpoint(db)
    return Erasure(
        id=int(erasure_id),
        contact_id=contact_id,
        merged_ids=tuple(ids[1:]),
        requested_by=by,
        erased_at=now,
        removed=removed,
        previously_erased_at=before,
    )


@contextmanager
def _secure_delete(conn: Connection) -> Iterator[None]:
    """SQLite: overwrite freed and rewritten cells with zeros while erasing, so the erased
    values do not linger in free space of the database file (Debian's build does so by
    default; others do not). The writer connection's own setting is restored afterwards."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = int(conn.exec_driver_sql("PRAGMA secure_delete").scalar() or 0)
    conn.exec_driver_sql("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA secure_delete = {before}")


def _checkpoint(db: Database) -> None:
    """SQLite: copy the write-ahead log into the database file and truncate it, so the
    pages written before the erasure (which hold the erased values) are gone from the log
    file too. Best effort: under constant reads it gives up after the busy timeout, and the
    log is overwritten as writes go on anyway."""
    if not db.is_sqlite:
        return
    with db.engine.connect() as conn:
        # On the driver's connection: SQLAlchemy would open a transaction first, and a
        # checkpoint cannot run inside one.
        driver = conn.connection.driver_connection
        assert driver is not None, "a checked-out connection has its driver connection"
        driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _locked_person(conn: Connection, contact_ref: str | int) -> list[int]:
    """The person's ids (see :func:`person_ids`), their contact rows locked until the
    erasure commits.

    PostgreSQL: the live contact's row is locked first, so no merge into it (a merge locks
    both contacts) can add a contact to the person meanwhile; if a merge took the contact
    itself before the lock, its new survivor is taken instead. SQLite's writer holds the
    database's write lock already.
    """
    contact_id = resolve_contact_id(conn, contact_ref)
    if conn.dialect.name != "postgresql":
        return person_ids(conn, contact_id)
    while True:
        locked = select(contacts.c.merged_into_id).where(contacts.c.id == contact_id)
        survivor = conn.execute(locked.with_for_update()).scalar()
        if survivor is None:
            break
        contact_id = resolve_contact_id(conn, contact_id)
    ids = person_ids(conn, contact_id)
    tombstones = select(contacts.c.id).where(contacts.c.id.in_(ids[1:])).order_by(contacts.c.id)
    conn.execute(tombstones.with_for_update()).all()
    return ids


def _erased_key(table: Table) -> ColumnElement[str]:
    """An idempotency key that says nothing about the person and stays unique (the row's
    id): a key derived from an email is a hash of the email."""
    return literal(ERASED, String) + cast(table.c.id, String)


def _anonymise_contacts(conn: Connection, ids: list[int], now: datetime) -> int:
    rows = conn.execute(
        select(
            contacts.c.id, contacts.c.properties, *(contacts.c[f] for f in PERSONAL_FIELDS)
        ).where(contacts.c.id.in_(ids))
    ).mappings()
    held = [
        r["id"] for r in rows if r["properties"] or any(r[f] is not None for f in PERSONAL_FIELDS)
    ]
    if held:
        cleared = dict.fromkeys(PERSONAL_FIELDS)
        conn.execute(
            update(contacts)
            .where(contacts.c.id.in_(held))
            .values(**cleared, properties={}, updated_at=now)
        )
    return len(held)


def _delete_identities(conn: Connection, ids: list[int], _now: datetime) -> int:
    return int(conn.execute(delete(identities).where(identities.c.contact_id.in_(ids))).rowcount)


_TOUCH_TEXT = ("referrer", "landing_page", "utm_term", "utm_content")


def _scrub_touches(conn: Connection, ids: list[int], _now: datetime) -> int:
    key = _erased_key(touches)
    held = or_(
        touches.c.idempotency_key.is_distinct_from(key),
        *(touches.c[c].is_not(None) for c in _TOUCH_TEXT),
    )
    result = conn.execute(
        update(touches)
        .where(touches.c.contact_id.in_(ids), held)
        .values(**dict.fromkeys(_TOUCH_TEXT), idempotency_key=key)
    )
    return int(result.rowcount)


def _scrub_activities(conn: Connection, ids: list[int], _now: datetime) -> int:
    # A row whose key is already the erased one had its properties cleared with it.
    key = _erased_key(activities)
    result = conn.execute(
        update(activities)
        .where(activities.c.contact_id.in_(ids), activities.c.idempotency_key != key)
        .values(properties={}, idempotency_key=key)
    )
    return int(result.rowcount)


def _clear_transition_reasons(conn: Connection, ids: list[int], _now: datetime) -> int:
    result = conn.execute(
        update(stage_transitions)
        .where(stage_transitions.c.contact_id.in_(ids), stage_transitions.c.reason.is_not(None))
        .values(reason=None)
    )
    return int(result.rowcount)


def _delete_qualifications(conn: Connection, ids: list[int], _now: datetime) -> int:
    query = delete(qualifications).where(qualifications.c.contact_id.in_(ids))
    return int(conn.execute(query).rowcount)


def _scrub_deals(conn: Connection, ids: list[int], _now: datetime) -> int:
    # A deal is named after its contact or account by default: "Ann Lee", "Acme".
    name = literal("deal ", String) + cast(deals.c.id, String)
    result = conn.execute(
        update(deals)
        .where(deals.c.contact_id.in_(ids), or_(deals.c.name != name, deals.c.reason.is_not(None)))
        .values(name=name, reason=None)
    )
    return int(result.rowcount)


def _scrub_tasks(conn: Connection, ids: list[int], _now: datetime) -> int:
    result = conn.execute(
        update(tasks)
        .where(
            tasks.c.contact_id.in_(ids),
            or_(tasks.c.title != tasks.c.kind, tasks.c.note.is_not(None)),
        )
        .values(title=tasks.c.kind, note=None)
    )
    return int(result.rowcount)


def _cancel_open_tasks(conn: Connection, ids: list[int], now: datetime) -> int:
    # Nobody can follow up with a person who has no name or address left; an open task
    # would only fall overdue and escalate.
    result = conn.execute(
        update(tasks)
        .where(tasks.c.contact_id.in_(ids), tasks.c.status == "open")
        .values(status="cancelled", done_at=now)
    )
    return int(result.rowcount)


def _scrub_notices(conn: Connection, ids: list[int], _now: datetime) -> int:
    found = conn.execute(select(notices.c.id, notices.c.data).where(_notice_about(ids))).all()
    return _rewrite_json(conn, notices, "data", found, lambda d: _kept(d, NOTICE_KEPT))


def _scrub_webhook_events(conn: Connection, ids: list[int], _now: datetime) -> int:
    query = select(webhook_events.c.id, webhook_events.c.payload).where(_event_about(ids))
    return _rewrite_json(
        conn, webhook_events, "payload", conn.execute(query).all(), _anonymous_payload
    )


def _anonymous_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    kept = _kept(payload, EVENT_KEPT)
    contact = payload.get("contact")
    if isinstance(contact, Mapping) and "id" in contact:
        kept["contact"] = {"id": contact["id"]}
    return kept


def _scrub_merges(conn: Connection, ids: list[int], _now: datetime) -> int:
    found = conn.execute(
        select(merges.c.id, merges.c.snapshot, merges.c.reason).where(_merges_of(ids))
    ).all()
    changed = [
        {"row_id": row_id, "snapshot": {"moved": snapshot.get("moved", {})}}
        for row_id, snapshot, reason in found
        if reason is not None or set(snapshot) != {"moved"}
    ]
    if changed:
        conn.execute(
            update(merges)
            .where(merges.c.id == bindparam("row_id"))
            .values(snapshot=bindparam("snapshot", type_=merges.c.snapshot.type), reason=None),
            changed,
        )
    return len(changed)


def _rewrite_json(
    conn: Connection,
    table: Table,
    column: str,
    found: Iterable[Any],
    rewrite: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> int:
    changed = []
    for row_id, document in found:
        new = rewrite(document)
        if new != document:
            changed.append({"row_id": row_id, "document": new})
    if changed:
        conn.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({column: bindparam("document", type_=table.c[column].type)}),
            changed,
        )
    return len(changed)


def _kept(document: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {k: document[k] for k in keys if k in document}


# What an erasure does, step by step, each giving how many rows it cleared (under the
# name the erasures row records the count by).
ERASE_STEPS: tuple[tuple[str, Callable[[Connection, list[int], datetime], int]], ...] = (
    ("contacts", _anonymise_contacts),
    ("identities", _delete_identities),
    ("touches", _scrub_touches),
    ("activities", _scrub_activities),
    ("stage_transitions", _clear_transition_reasons),
    ("qualifications", _delete_qualifications),
    ("deals", _scrub_deals),
    ("tasks", _scrub_tasks),
    ("tasks_cancelled", _cancel_open_tasks),
    ("notices", _scrub_notices),
    ("merges", _scrub_merges),
    ("webhook_events", _scrub_webhook_events),
)
