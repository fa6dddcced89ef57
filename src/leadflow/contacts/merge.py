"""Merging two contacts into one: the survivor keeps everything both of them had.

A merge is one transaction. Identities, touches and activities move to the survivor with
one UPDATE per table; the survivor's empty fields are filled from the merged contact (its
own values win), and the merged contact stays as a tombstone (``status = 'merged'``,
``merged_into_id``) so that its id keeps resolving. A ``merges`` row keeps the merged
contact as it was and what moved, so every merge can be inspected later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, or_, select, update

from leadflow.activity.models import activities
from leadflow.clock import Clock
from leadflow.contacts.models import contacts, identities, merges, touches
from leadflow.contacts.queries import resolve_contact_id
from leadflow.contacts.service import CONTACT_COLUMNS
from leadflow.errors import Conflict, ValidationError
from leadflow.lifecycle.models import deals, qualifications
from leadflow.privacy.tombstones import refuse_erased
from leadflow.routing.models import tasks
from leadflow.scoring.service import rescore_after_merge
from leadflow.storage.database import Database

# Fields the survivor takes from the merged contact when its own are empty.
FILLED_FIELDS = (*CONTACT_COLUMNS, "account_id")
# Tables whose rows belong to a contact and move to the survivor.
MOVED_TABLES = (identities, touches, activities, deals, tasks)
# Every column that references contacts.id, and how a merge treats it. A new table that
# references contacts must be added here (a test checks) so a merge never strands its rows.
CONTACT_REFERENCES = {
    **{(t.name, "contact_id"): "moved to the survivor" for t in MOVED_TABLES},
    ("contacts", "merged_into_id"): "tombstones of the merged contact re-pointed",
    ("merges", "survivor_id"): "history, kept",
    ("merges", "merged_id"): "history, kept",
    ("contact_scores", "contact_id"): "the merged one's removed, the survivor's recomputed",
    ("score_history", "contact_id"): "history, kept",
    ("stage_transitions", "contact_id"): "history, kept",
    ("qualifications", "contact_id"): "moved where the survivor has no value, else dropped",
}
_SNAPSHOT_FIELDS = (
    "id",
    *FILLED_FIELDS,
    "status",
    "properties",
    "first_touch_id",
    "last_touch_id",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class MergePlan:
    """What a merge of ``merged`` into ``survivor`` would do, computed without writing."""

    survivor: Mapping[str, Any]
    merged: Mapping[str, Any]
    changes: Mapping[str, Any]  # survivor column -> new value
    moves: Mapping[str, int]  # table -> rows that move

    @property
    def filled(self) -> tuple[str, ...]:
        return tuple(c for c in FILLED_FIELDS if c in self.changes)

    @property
    def properties_added(self) -> tuple[str, ...]:
        new = self.changes.get("properties", {})
        return tuple(k for k in new if k not in (self.survivor["properties"] or {}))


@dataclass(frozen=True)
class MergeResult:
    merge_id: int
    survivor_id: int
    merged_id: int
    merged_at: datetime
    merged_by: str
    reason: str | None
    moved: Mapping[str, int]
    filled: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "merge_id": self.merge_id,
            "survivor_id": self.survivor_id,
            "merged_id": self.merged_id,
            "merged_at": self.merged_at,
            "merged_by": self.merged_by,
            "reason": self.reason,
            **{f"moved_{table}": count for table, count in self.moved.items()},
            "filled": list(self.filled),
        }


# -- the service -----------------------------------------------------------------------------


def plan_merge(db: Database, survivor_ref: str | int, merged_ref: str | int) -> MergePlan:
    """What merging ``merged_ref`` into ``survivor_ref`` would change; raises as a merge would."""
    with db.read() as conn:
        return _plan(conn, survivor_ref, merged_ref, lock=False)


def merge_contacts(
    db: Database,
    clock: Clock,
    survivor_ref: str | int,
    merged_ref: str | int,
    *,
    merged_by: str,
    reason: str | None = None,
) -> MergeResult:
    """Merge the contact ``merged_ref`` names into the one ``survivor_ref`` names.

    Raises :class:`NotFound` for an unknown reference and :class:`Conflict` for a contact
    merged into itself or one that is already merged; nothing is written then.
    """
    by = merged_by.strip()
    if not by:
        raise ValidationError("must name who merges", field="merged_by")
    why = (reason or "").strip() or None
    now = clock.now()
    with db.write() as conn:
        return merge_in(conn, survivor_ref, merged_ref, merged_by=by, reason=why, now=now)


def merge_in(
    conn: Connection,
    survivor_ref: str | int,
    merged_ref: str | int,
    *,
    merged_by: str,
    reason: str | None,
    now: datetime,
) -> MergeResult:
    """:func:`merge_contacts` in the caller's transaction: a form capture stitches a
    visitor's anonymous contact into the person the form names, in the capture's own."""
    plan = _plan(conn, survivor_ref, merged_ref, lock=True)
    return _apply(conn, plan, merged_by=merged_by, reason=reason, now=now)


def _apply(
    conn: Connection, plan: MergePlan, *, merged_by: str, reason: str | None, now: datetime
) -> MergeResult:
    survivor_id, merged_id = plan.survivor["id"], plan.merged["id"]
    merged_identities = _identities_of(conn, merged_id)
    moved = _move_rows(conn, merged_id, survivor_id)
    _update_contact(conn, survivor_id, {**plan.changes, "updated_at": now})
    tombstone = {"status": "merged", "merged_into_id": survivor_id, "updated_at": now}
    _update_contact(conn, merged_id, tombstone)
    rescore_after_merge(conn, survivor_id, merged_id, now=now)
    merge_id = _record_merge(
        conn,
        {
            "survivor_id": survivor_id,
            "merged_id": merged_id,
            "merged_at": now,
            "merged_by": merged_by,
            "reason": reason,
            "snapshot": _snapshot(plan, merged_identities, moved),
        },
    )
    return MergeResult(
        merge_id=merge_id,
        survivor_id=survivor_id,
        merged_id=merged_id,
        merged_at=now,
        merged_by=merged_by,
        reason=reason,
        moved=moved,
        filled=plan.filled,
    )


def _plan(
    conn: Connection, survivor_ref: str | int, merged_ref: str | int, *, lock: bool
) -> MergePlan:
    survivor_id = resolve_contact_id(conn, survivor_ref, follow_merges=False)
    merged_id = resolve_contact_id(conn, merged_ref, follow_merges=False)
    if survivor_id == merged_id:
        raise Conflict(
            f"cannot merge a contact into itself: {survivor_ref!r} and {merged_ref!r} "
            f"are both contact {survivor_id}"
        )
    # An erased person's tombstone takes no identities, fields or history from another.
    refuse_erased(conn, survivor_id, merged_id)
    rows = _load_contacts(conn, (survivor_id, merged_id), lock=lock)
    for ref, contact_id in ((survivor_ref, survivor_id), (merged_ref, merged_id)):
        target = rows[contact_id]["merged_into_id"]
        if rows[contact_id]["status"] == "merged":
            named = "" if str(ref).strip() == str(contact_id) else f" ({ref})"
            raise Conflict(
                f"contact {contact_id}{named} is already merged into contact {target}; "
                f"use {target} instead"
            )
    survivor, merged = rows[survivor_id], rows[merged_id]
    touch_times = _touch_times(conn, [survivor, merged])
    return MergePlan(
        survivor=survivor,
        merged=merged,
        changes=survivor_changes(survivor, merged, touch_times),
        moves=_count_rows(conn, merged_id),
    )


def _load_contacts(
    conn: Connection, ids: tuple[int, int], *, lock: bool
) -> dict[int, dict[str, Any]]:
    query = select(contacts).where(contacts.c.id.in_(ids)).order_by(contacts.c.id)
    if lock:
        # PostgreSQL: lock both rows (in id order, so two merges cannot deadlock) against
        # a concurrent merge or capture. SQLite's writer already holds the database lock.
        query = query.with_for_update()
    return {row["id"]: dict(row) for row in conn.execute(query).mappings()}


def _touch_times(conn: Connection, rows: list[dict[str, Any]]) -> dict[int, datetime]:
    ids = {r[c] for r in rows for c in ("first_touch_id", "last_touch_id") if r[c] is not None}
    if not ids:
        return {}
    found = conn.execute(select(touches.c.id, touches.c.occurred_at).where(touches.c.id.in_(ids)))
    return {row.id: row.occurred_at for row in found}


def _count_rows(conn: Connection, contact_id: int) -> dict[str, int]:
    return {
        table.name: int(
            conn.execute(
                select(func.count()).select_from(table).where(table.c.contact_id == contact_id)
            ).scalar_one()
        )
        for table in MOVED_TABLES
    }


def _identities_of(conn: Connection, contact_id: int) -> list[list[str]]:
    rows = conn.execute(
        select(identities.c.kind, identities.c.value)
        .where(identities.c.contact_id == contact_id)
        .order_by(identities.c.id)
    )
    return [[kind, value] for kind, value in rows]


def _move_rows(conn: Connection, merged_id: int, survivor_id: int) -> dict[str, int]:
    moved = {}
    for table in MOVED_TABLES:
        result = conn.execute(
            update(table).where(table.c.contact_id == merged_id).values(contact_id=survivor_id)
        )
        moved[table.name] = result.rowcount
    moved["qualifications"] = _move_criteria(conn, merged_id, survivor_id)
    # Contacts merged into the merged one earlier now point straight at the survivor, so
    # every tombstone is one step from a live contact.
    conn.execute(
        update(contacts)
        .where(contacts.c.merged_into_id == merged_id)
        .values(merged_into_id=survivor_id)
    )
    return moved


def _move_criteria(conn: Connection, merged_id: int, survivor_id: int) -> int:
    """The merged contact's qualification criteria the survivor has no value for move to it;
    the survivor's own values win (what sales set on the survivor is not overwritten)."""
    held = select(qualifications.c.criterion).where(qualifications.c.contact_id == survivor_id)
    result = conn.execute(
        update(qualifications)
        .where(qualifications.c.contact_id == merged_id, qualifications.c.criterion.not_in(held))
        .values(contact_id=survivor_id)
    )
    conn.execute(delete(qualifications).where(qualifications.c.contact_id == merged_id))
    return int(result.rowcount)


def _update_contact(conn: Connection, contact_id: int, values: Mapping[str, Any]) -> None:
    conn.execute(update(contacts).where(contacts.c.id == contact_id).values(dict(values)))


def _record_merge(conn: Connection, row: dict[str, Any]) -> int:
    return int(conn.execute(merges.insert().returning(merges.c.id), row).scalar_one())


def _snapshot(
    plan: MergePlan, merged_identities: list[list[str]], moved: Mapping[str, int]
) -> dict[str, Any]:
    return {
        "contact": {f: _jsonable(plan.merged[f]) for f in _SNAPSHOT_FIELDS},
        "identities": merged_identities,
        "moved": dict(moved),
        "filled": list(plan.filled),
        "properties_added": list(plan.properties_added),
    }


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# -- the rules (pure) ------------------------------------------------------------------------


def survivor_changes(
    survivor: Mapping[str, Any],
    merged: Mapping[str, Any],
    touch_times: Mapping[int, datetime],
) -> dict[str, Any]:
    """The survivor's columns that change: its empty fields filled, properties joined,
    the earliest first touch and the latest last touch kept (the last activity is read
    from the log, which the merge moves)."""
    changes = {c: merged[c] for c in FILLED_FIELDS if _empty(survivor[c]) and not _empty(merged[c])}
    properties = {**(merged["properties"] or {}), **(survivor["properties"] or {})}
    if properties != (survivor["properties"] or {}):
        changes["properties"] = properties
    first = _pick_touch(survivor, merged, "first_touch_id", touch_times, latest=False)
    last = _pick_touch(survivor, merged, "last_touch_id", touch_times, latest=True)
    for column, value in (("first_touch_id", first), ("last_touch_id", last)):
        if value != survivor[column]:
            changes[column] = value
    return changes


def _pick_touch(
    survivor: Mapping[str, Any],
    merged: Mapping[str, Any],
    column: str,
    touch_times: Mapping[int, datetime],
    *,
    latest: bool,
) -> int | None:
    current: int | None = survivor[column]
    ids: list[int] = [t for t in (current, merged[column]) if t is not None and t in touch_times]
    if not ids:
        return current

    # Ties go to the touch recorded first for the first touch and last for the last touch,
    # as capture settles them.
    def key(touch_id: int) -> tuple[datetime, int]:
        return touch_times[touch_id], touch_id

    return max(ids, key=key) if latest else min(ids, key=key)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# -- inspection ------------------------------------------------------------------------------

MERGE_COLUMNS = (
    "id",
    "merged_at",
    "survivor_id",
    "merged_id",
    "merged_name",
    "merged_email",
    "identities",
    "touches",
    "activities",
    "merged_by",
    "reason",
)


def list_merges(db: Database, ref: str | int | None = None) -> list[dict[str, Any]]:
    """Recorded merges, newest first; with ``ref``, those the contact took part in."""
    query = select(merges).order_by(merges.c.merged_at.desc(), merges.c.id.desc())
    with db.read() as conn:
        if ref is not None:
            named = resolve_contact_id(conn, ref, follow_merges=False)
            live = resolve_contact_id(conn, ref)
            query = query.where(
                or_(merges.c.survivor_id.in_({named, live}), merges.c.merged_id == named)
            )
        return [_merge_row(row) for row in conn.execute(query).mappings()]


def _merge_row(row: RowMapping) -> dict[str, Any]:
    snapshot = row["snapshot"] or {}
    contact = snapshot.get("contact", {})
    name = " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)
    return {
        "id": row["id"],
        "merged_at": row["merged_at"],
        "survivor_id": row["survivor_id"],
        "merged_id": row["merged_id"],
        "merged_name": name or None,
        "merged_email": contact.get("email"),
        **{t.name: snapshot.get("moved", {}).get(t.name, 0) for t in MOVED_TABLES},
        "merged_by": row["merged_by"],
        "reason": row["reason"],
        "snapshot": snapshot,
    }
