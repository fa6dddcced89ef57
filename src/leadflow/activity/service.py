"""Recording activity: append-only, idempotent, set-based per batch.

A batch costs a fixed number of statements, whatever its size: the identity lookup (one
per identity kind), a check of the contact ids given (that they exist and that no erased
person's tombstone is among them), and the insert (which skips stored
keys itself; its SQL is in :mod:`leadflow.activity.store`). A contact's last activity is
not written anywhere: it is read from the log (:mod:`leadflow.activity.queries`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from leadflow.activity.engine import PreparedEvent, prepare_event
from leadflow.activity.inputs import EventInput
from leadflow.activity.store import (
    EventRow,
    insert_new_events,
    wire_for,
)
from leadflow.clock import Clock
from leadflow.contacts.engine import PreparedContact, prepare_contact
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.models import contacts
from leadflow.contacts.service import lookup_identities, upsert_contacts
from leadflow.errors import ContactErased, NotFound, ValidationError
from leadflow.lifecycle.service import Changes, apply_rules, capture_criteria
from leadflow.privacy.tombstones import erased_among, is_erased
from leadflow.routing.service import TOUCH_TYPES, touched
from leadflow.scoring.service import NewEvent, lock_for_scoring, score_new_events
from leadflow.storage.database import Database
from leadflow.storage.sql import chunked

MAX_BATCH = 10_000


@dataclass(frozen=True)
class RecordResult:
    recorded: int  # newly stored
    duplicates: int  # already stored under the same idempotency key
    contacts_created: int
    event_ids: tuple[int | None, ...] = ()  # per input; None for a duplicate


def record_events(db: Database, clock: Clock, events: Sequence[EventInput]) -> RecordResult:
    """Record a batch of events atomically: all of them, or none if one is invalid."""
    now = clock.now()
    prepared = prepare_batch(events, now=now)
    with db.write(check_references=False) as conn:  # see record_prepared
        return record_prepared(conn, prepared, now=now)


def prepare_batch(events: Sequence[EventInput], *, now: datetime) -> list[PreparedEvent]:
    """A batch's events validated, each refusal naming the event (``events[3].type``)."""
    if len(events) > MAX_BATCH:
        raise ValidationError(f"a batch holds at most {MAX_BATCH} events, got {len(events)}")
    return [_prepare(i, e, now) for i, e in enumerate(events)]


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
    """Record validated events in the caller's transaction.

    Steps, each one statement per batch (per 1,000 rows for the insert): resolve every
    event's contact, lock those contacts for scoring (PostgreSQL), insert the events whose
    keys are new, then update their contacts' scores (one row each). A retried key changes nothing.

    Every contact id written is found or made in this transaction (by identity, or checked
    to exist), so callers on SQLite may skip the row-by-row foreign-key look-ups
    (``Database.write(check_references=False)``: ~1 ms of a ~48 ms batch of 1,000).
    """
    if not events:
        return RecordResult(0, 0, 0)
    contact_ids, created = _resolve_contacts(conn, events, now=now)
    lock_for_scoring(conn, set(contact_ids))
    _refuse_erased_meanwhile(conn, events, contact_ids)
    wire = wire_for(conn.dialect)
    firsts = _first_of_each_key(events)
    times = [wire.to_time(events[i].occurred_at) for i in firsts]  # as stored
    recorded_at = wire.to_time(now)
    ids = insert_new_events(
        conn,
        wire,
        [
            _row(events[i], contact_ids[i], at, recorded_at)
            for i, at in zip(firsts, times, strict=True)
        ],
    )
    new = [(i, at) for i, at in zip(firsts, times, strict=True) if events[i].idempotency_key in ids]
    rescored = score_new_events(
        conn,
        [
            NewEvent(
                contact_id=contact_ids[i],
                activity_id=ids[events[i].idempotency_key],
                type=events[i].type,
                occurred_at=events[i].occurred_at,
                properties=events[i].properties,
            )
            for i, _ in new
        ],
        now=now,
        created=created,
    )
    # A form's answers fill qualification criteria (lifecycle.yaml's capture:).
    answers: dict[int, dict[str, Any]] = {}
    for i, _ in new:
        if events[i].type == FORM_TYPE:
            answers.setdefault(contact_ids[i], {}).update(form_answers(events[i].properties))
    capture_criteria(conn, answers, now=now, by="form")
    # Lifecycle rules read scores, criteria and activity: they run once the batch is scored.
    types: dict[int, set[str]] = {}
    for i, _ in new:
        types.setdefault(contact_ids[i], set()).add(events[i].type)
    apply_rules(
        conn,
        sorted(types),
        now=now,
        activity_ids={contact_ids[i]: ids[events[i].idempotency_key] for i, _ in new},
        changes=Changes(
            {c: frozenset(t) for c, t in types.items()}, frozenset(rescored | set(answers))
        ),
    )
    # A call, a meeting or an email from sales completes the contact's open first touch.
    touches: dict[int, datetime] = {}
    for i, _ in new:
        if events[i].type in TOUCH_TYPES:
            contact_id = contact_ids[i]
            at = events[i].occurred_at
            touches[contact_id] = max(touches.get(contact_id, at), at)
    touched(conn, touches, now=now)
    event_ids: list[int | None] = [None] * len(events)
    for i, _ in new:
        event_ids[i] = ids[events[i].idempotency_key]
    return RecordResult(
        recorded=len(new),
        duplicates=len(events) - len(new),
        contacts_created=len(created),
        event_ids=tuple(event_ids),
    )


FORM_TYPE = "form_submit"


def form_answers(properties: Mapping[str, Any]) -> dict[str, Any]:
    """A form submission's answers: its ``fields`` object when it has one (as the tracking
    snippet sends them), else its properties."""
    fields = properties.get("fields")
    return dict(fields) if isinstance(fields, Mapping) else dict(properties)


def _first_of_each_key(events: Sequence[PreparedEvent]) -> list[int]:
    """Indexes of the first event with each idempotency key; later ones are duplicates."""
    first: dict[str, int] = {}
    for i, event in enumerate(events):
        first.setdefault(event.idempotency_key, i)
    return list(first.values())


def _row(event: PreparedEvent, contact_id: int, at: Any, recorded_at: Any) -> EventRow:
    return (
        contact_id,
        event.type,
        at,
        recorded_at,
        event.source,
        event.properties_json,
        event.idempotency_key,
    )


def _resolve_contacts(
    conn: Connection, events: Sequence[PreparedEvent], *, now: datetime
) -> tuple[list[int], set[int]]:
    """The contact of each event, and the contacts made for identities nobody had yet
    (scored with their events, not on creation)."""
    named: dict[tuple[str, str], PreparedEvent] = {}
    for event in events:
        if event.contact_id is None and event.identity is not None:
            named.setdefault(event.identity, event)
    owners = lookup_identities(conn, named)
    unknown = sorted(named.keys() - owners.keys())
    if unknown:
        made = [(_new_contact(named[k]), None) for k in unknown]
        created = upsert_contacts(conn, made, now=now, score=False)
        owners.update({k: r.contact_id for k, r in zip(unknown, created, strict=True)})
    given, erased = _live_contacts(conn, {e.contact_id for e in events if e.contact_id is not None})
    if erased:
        _refuse_erased(events, given, erased)
    return [
        given[e.contact_id] if e.contact_id is not None else owners[_identity(e)] for e in events
    ], {owners[k] for k in unknown}


def _new_contact(event: PreparedEvent) -> PreparedContact:
    """A contact known only by the identity an event names, as if captured with it alone."""
    kind, value = _identity(event)
    if kind == "email":
        # The address as written, not its lower-cased key.
        return prepare_contact(ContactInput(email=event.email or value))
    if kind == "phone":
        return prepare_contact(ContactInput(phone=value))
    if kind == "external_id":
        return prepare_contact(ContactInput(external_id=value))
    return prepare_contact(ContactInput(anonymous_id=value))


def _identity(event: PreparedEvent) -> tuple[str, str]:
    assert event.identity is not None, "prepare_event refuses events that name no contact"
    return event.identity


def _live_contacts(conn: Connection, ids: Iterable[int]) -> tuple[dict[int, int], set[int]]:
    """Map contact ids to the contact that now holds them, with the erased ones among all
    those read (read in the same statement: the check costs no query of its own).

    A merged contact stays as a tombstone pointing at its survivor, which may itself have
    been merged since; the chain is followed one query per link (almost always none).
    """
    wanted = set(ids)
    merged_into: dict[int, int | None] = {}
    erased: set[int] = set()
    pending = wanted
    while pending:
        for chunk in chunked(sorted(pending)):
            rows = conn.execute(
                select(contacts.c.id, contacts.c.merged_into_id, is_erased(contacts.c.id)).where(
                    contacts.c.id.in_(chunk)
                )
            )
            for cid, target, gone in rows:
                merged_into[cid] = target
                if gone:
                    erased.add(cid)
        missing = wanted - merged_into.keys()
        if missing:
            raise NotFound(f"no contact with id {', '.join(map(str, sorted(missing)[:5]))}")
        pending = {t for t in merged_into.values() if t is not None} - merged_into.keys()
    return {cid: _survivor(cid, merged_into) for cid in wanted}, erased


def _refuse_erased(
    events: Sequence[PreparedEvent], live: Mapping[int, int], erased: set[int]
) -> None:
    """Refuse the batch (all or nothing) at its first event that names an erased contact,
    or a contact merged into one: the tombstone takes no new data. A single event's error
    names no index."""
    for index, event in enumerate(events):
        named = event.contact_id
        if named is not None and (named in erased or live[named] in erased):
            raise ContactErased(named, index=index if len(events) > 1 else None)


def _refuse_erased_meanwhile(
    conn: Connection, events: Sequence[PreparedEvent], contact_ids: Sequence[int]
) -> None:
    """PostgreSQL: refuse the batch if one of its contacts was erased after it was read.

    An erasure holds its contacts' rows (FOR UPDATE) until it commits, and
    :func:`lock_for_scoring` waits for them; under READ COMMITTED this later statement sees
    the erasure then, where the contacts' first read did not. (SQLite's one writer runs
    the two one after the other: its first read already sees a committed erasure.)
    """
    if conn.dialect.name != "postgresql":
        return
    erased = erased_among(conn, contact_ids)
    if erased:
        for index, (event, contact_id) in enumerate(zip(events, contact_ids, strict=True)):
            if contact_id in erased:
                named = event.contact_id if event.contact_id is not None else contact_id
                raise ContactErased(named, index=index if len(events) > 1 else None)


def _survivor(contact_id: int, merged_into: dict[int, int | None]) -> int:
    seen = {contact_id}
    while (target := merged_into.get(contact_id)) is not None and target not in seen:
        seen.add(target)
        contact_id = target
    return contact_id
