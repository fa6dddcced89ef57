"""How captures record touches: each touch once (idempotent by key), and each contact's
first and last touch kept pointing at its earliest and latest one.

Touch ids are allocated before anything is written, so a batch's new contacts are inserted
already pointing at their first and last touch; only contacts that existed before the
batch need their stored touches read and compared.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, select

from leadflow.contacts.engine import TOUCH_TEXT_FIELDS, PreparedContact
from leadflow.contacts.models import contacts, touches
from leadflow.contacts.wire import Wire, allocate_ids, execute_rows
from leadflow.storage.sql import chunked

# A touch as first/last bookkeeping needs it: (touch id, contact id, occurred_at).
Stored = tuple[int, int, datetime]
# The touch text columns besides the key, in the order a TouchRow gives them.
TOUCH_TEXT = tuple(name for name in TOUCH_TEXT_FIELDS if name != "idempotency_key")
# A touch as the batch writer takes it: (idempotency key, channel, TOUCH_TEXT values,
# occurred_at); a tuple, so worker processes send it cheaply.
TouchRow = tuple[str, str, tuple[Any, ...], datetime]


class Entry(NamedTuple):  # one per touch of a batch: a tuple is cheaper to build
    key: str
    item: int  # the index of the capture that gave the touch
    touch_id: int
    contact_id: int
    occurred_at: datetime


@dataclass(frozen=True)
class TouchPlan:
    """A batch's touches with their ids, before they are written."""

    entries: list[Entry]
    rows: list[tuple[Any, ...]]  # driver-ready, in the wire's TOUCH_INSERT order
    bare: list[tuple[Any, ...]]  # touches without text, in TOUCH_INSERT_BARE order

    def ends(self, contact_ids: set[int]) -> dict[int, tuple[int, int]]:
        """The first and last planned touch of each of ``contact_ids`` that has one."""
        span = _spans((e.touch_id, e.contact_id, e.occurred_at) for e in self.entries)
        return {
            cid: (first[1], last[1]) for cid, (first, last) in span.items() if cid in contact_ids
        }


def plan_touches(
    conn: Connection, wire: Wire, items: Sequence[tuple[TouchRow | None, int]]
) -> TouchPlan:
    """Give each (touch, contact id) item's touch an id; the same key twice: one touch."""
    pending: dict[str, tuple[int, int, TouchRow]] = {}
    for i, (touch, contact_id) in enumerate(items):
        if touch is not None:
            pending[touch[0]] = (i, contact_id, touch)  # the later item wins
    ids = allocate_ids(conn, wire, touches, len(pending))
    entries = []
    rows = []
    bare = []
    time = wire.time
    for tid, (key, (i, cid, touch)) in zip(ids, pending.items(), strict=True):
        _, channel, text, occurred_at = touch
        entries.append(Entry(key, i, tid, cid, occurred_at))
        if text == _NO_TEXT:
            bare.append((tid, cid, channel, key, time(occurred_at)))
        else:
            rows.append((tid, cid, channel, *text, key, time(occurred_at)))
    return TouchPlan(entries=entries, rows=rows, bare=bare)


_NO_TEXT = (None,) * len(TOUCH_TEXT)


def record_touches(
    conn: Connection, wire: Wire, plan: TouchPlan, fresh: set[int]
) -> dict[int, int]:
    """Insert the planned touches; point contacts at their first and last; item -> touch id.

    ``fresh``: the contacts this batch inserted, already pointing at their planned touches.
    """
    if not plan.entries:
        return {}
    inserted = execute_rows(conn, wire.insert_touches, plan.rows)
    inserted += execute_rows(conn, wire.insert_bare_touches, plan.bare)
    if inserted == len(plan.entries):
        found = [(e.touch_id, e.contact_id, e.occurred_at) for e in plan.entries]
        set_first_and_last_touch(conn, wire, [f for f in found if f[1] not in fresh])
        return {e.item: e.touch_id for e in plan.entries}
    # Some keys were stored already and their touches stay as they were (maybe on another
    # contact), so the planned first and last touches are worked out again from storage.
    execute_rows(conn, wire.clear_touch_ends, [(cid,) for cid in sorted(fresh)])
    stored = _touches_by_key(conn, [e.key for e in plan.entries])
    set_first_and_last_touch(conn, wire, list(stored.values()))
    item_of = {e.key: e.item for e in plan.entries}
    return {item_of[key]: tid for key, (tid, _, _) in stored.items()}


def _touches_by_key(conn: Connection, keys: list[str]) -> dict[str, Stored]:
    found: dict[str, Stored] = {}
    for chunk in chunked(keys):
        rows = conn.execute(
            select(
                touches.c.idempotency_key, touches.c.id, touches.c.contact_id, touches.c.occurred_at
            ).where(touches.c.idempotency_key.in_(chunk))
        ).all()
        found.update({key: (tid, cid, at) for key, tid, cid, at in rows})
    return found


def touch_key(prepared: PreparedContact, values: Mapping[str, Any]) -> str:
    """A touch's idempotency key when the caller gave none: the same capture, the same key."""
    material = json.dumps(
        [prepared.identities[0], {k: v for k, v in values.items() if k != "idempotency_key"}],
        sort_keys=True,
        default=str,
    )
    return "t:" + hashlib.sha256(material.encode()).hexdigest()[:40]


_Span = tuple[tuple[datetime, int], tuple[datetime, int]]


def _spans(found: Iterable[Stored]) -> dict[int, _Span]:
    """Each contact's earliest and latest (occurred_at, touch id) among ``found``.

    One pass, no sort: a batch's touches mostly belong to contacts with one touch each.
    """
    span: dict[int, _Span] = {}
    for tid, cid, at in found:
        point = (at, tid)
        known = span.get(cid)
        if known is None:
            span[cid] = (point, point)
        else:
            span[cid] = (min(known[0], point), max(known[1], point))
    return span


def set_first_and_last_touch(conn: Connection, wire: Wire, found: list[Stored]) -> None:
    """Point each contact at its earliest and latest touch: one read, one write per batch."""
    span = _spans(found)
    stored = _stored_touch_times(conn, list(span))
    rows = []
    for cid, ((first_at, first_id), (last_at, last_id)) in span.items():
        old_first, old_last = stored.get(cid, (None, None))
        new_first = first_id if old_first is None or first_at < old_first else None
        new_last = last_id if old_last is None or last_at >= old_last else None
        if new_first is not None or new_last is not None:
            rows.append((new_first, new_last, cid))
    execute_rows(conn, wire.touch_ends, rows)


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
