"""Recording activity: append-only, idempotent, set-based per batch.

A batch costs a fixed number of statements: one identity lookup, one contact check, one
lookup of already-recorded keys, one insert, one update of the contacts' last activity.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update

from leadflow.activity.engine import PreparedEvent, prepare_event
from leadflow.activity.inputs import EventInput
from leadflow.activity.models import activities
from leadflow.clock import Clock
from leadflow.contacts.engine import PreparedContact
from leadflow.contacts.models import contacts
from leadflow.contacts.service import lookup_identities, upsert_contacts
from leadflow.errors import NotFound, ValidationError
from leadflow.storage.database import Database
from leadflow.storage.sql import chunked, execute_many

MAX_BATCH = 10_000


@dataclass(frozen=True)
class RecordResult:
    recorded: int  # newly stored
    duplicates: int  # already stored under the same idempotency key
    contacts_created: int
    event_ids: tuple[int | None, ...] = ()  # per input; None for a duplicate


def record_events(db: Database, clock: Clock, events: Sequence[EventInput]) -> RecordResult:
    """Record a batch of events atomically: all of them, or none if one is invalid."""
    if len(events) > MAX_BATCH:
        raise ValidationError(f"a batch holds at most {MAX_BATCH} events, got {len(events)}")
    now = clock.now()
    prepared = [_prepare(i, e, now) for i, e in enumerate(events)]
    with db.write() as conn:
        return record_prepared(conn, prepared, now=now)


def record_event(db: Database, clock: Clock, event: EventInput) -> RecordResult:
    return record_events(db, clock, [event])


def _prepare(index: int, event: EventInput, now: datetime) -> PreparedEvent:
    try:
        return prepare_event(event, now=now)
    except ValidationError as exc:
        raise ValidationError(exc.reason, field=f"events[{index}].{exc.field}") from None


def record_prepared(
    conn: Connection, events: Sequence[PreparedEvent], *, now: datetime
) -> RecordResult:
    if not events:
        return RecordResult(0, 0, 0)
    contact_ids, created = _resolve_contacts(conn, events, now=now)
    stored = _stored_keys(conn, {e.idempotency_key for e in events})
    rows: list[dict[str, Any]] = []
    fresh: dict[str, int] = {}
    for i, event in enumerate(events):
        key = event.idempotency_key
        if key in stored or key in fresh:
            continue
        fresh[key] = i
        rows.append(_row(event, contact_ids[i], now))
    ids = _insert(conn, rows)
    _touch_contacts(conn, rows)
    by_index = {fresh[r["idempotency_key"]]: ids[n] for n, r in enumerate(rows)}
    return RecordResult(
        recorded=len(rows),
        duplicates=len(events) - len(rows),
        contacts_created=created,
        event_ids=tuple(by_index.get(i) for i in range(len(events))),
    )


def _row(event: PreparedEvent, contact_id: int, now: datetime) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "recorded_at": now,
        "source": event.source,
        "properties": event.properties,
        "idempotency_key": event.idempotency_key,
    }


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    result = conn.execute(
        activities.insert().returning(activities.c.id, sort_by_parameter_order=True), rows
    )
    return [r[0] for r in result.all()]


def _resolve_contacts(
    conn: Connection, events: Sequence[PreparedEvent], *, now: datetime
) -> tuple[list[int], int]:
    """The contact of each event; identities nobody has yet become new contacts."""
    keys = {e.identity for e in events if e.contact_id is None and e.identity is not None}
    owners = lookup_identities(conn, keys)
    unknown = sorted(keys - owners.keys())
    if unknown:
        created = upsert_contacts(
            conn,
            [
                (
                    PreparedContact(
                        identities=(k,), values=_identity_values(k), properties={}, account=None
                    ),
                    None,
                )
                for k in unknown
            ],
            now=now,
        )
        owners.update({k: r.contact_id for k, r in zip(unknown, created, strict=True)})
    given = _live_contacts(conn, {e.contact_id for e in events if e.contact_id is not None})
    resolved = [
        given[e.contact_id] if e.contact_id is not None else owners[e.identity]  # type: ignore[index]
        for e in events
    ]
    return resolved, len(unknown)


def _identity_values(key: tuple[str, str]) -> dict[str, Any]:
    kind, value = key
    return {kind: value} if kind in ("email", "phone") else {}


def _live_contacts(conn: Connection, ids: Iterable[int]) -> dict[int, int]:
    """Map contact ids to the contact that now holds them (merged ones to their survivor)."""
    wanted = set(ids)
    found: dict[int, int] = {}
    for chunk in chunked(sorted(wanted)):
        rows = conn.execute(
            select(contacts.c.id, contacts.c.merged_into_id).where(contacts.c.id.in_(chunk))
        )
        found.update({cid: merged or cid for cid, merged in rows})
    missing = wanted - found.keys()
    if missing:
        raise NotFound(f"no contact with id {', '.join(map(str, sorted(missing)[:5]))}")
    return found


def _stored_keys(conn: Connection, keys: set[str]) -> set[str]:
    stored: set[str] = set()
    for chunk in chunked(sorted(keys)):
        rows = conn.execute(
            select(activities.c.idempotency_key).where(activities.c.idempotency_key.in_(chunk))
        )
        stored.update(r[0] for r in rows)
    return stored


def _touch_contacts(conn: Connection, rows: list[dict[str, Any]]) -> None:
    latest: dict[int, datetime] = {}
    for row in rows:
        at = row["occurred_at"]
        if row["contact_id"] not in latest or latest[row["contact_id"]] < at:
            latest[row["contact_id"]] = at
    execute_many(
        conn,
        update(contacts)
        .where(
            and_(
                contacts.c.id == bindparam("b_id"),
                or_(
                    contacts.c.last_activity_at.is_(None),
                    contacts.c.last_activity_at
                    < bindparam("b_at", type_=contacts.c.last_activity_at.type),
                ),
            )
        )
        .values(last_activity_at=bindparam("b_at")),
        [{"b_id": cid, "b_at": at} for cid, at in latest.items()],
    )
