"""The periodic SLA job (``leadflow tasks check``): overdue first touches escalate (notify
the team lead, or reassign, as the team says), prospects untouched past ``recycle_after``
go back to nurture as ``recycled`` with the reason, prospects nobody could take are routed
again, and pending notices are delivered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from leadflow.activity.models import activities
from leadflow.channels import Channel
from leadflow.clock import Clock
from leadflow.contacts.models import contacts
from leadflow.privacy.tombstones import is_erased
from leadflow.routing.config import RoutingConfig
from leadflow.routing.models import tasks
from leadflow.routing.notices import deliver_notices, queue_notice
from leadflow.routing.service import (
    TOUCH_TYPES,
    active_routing,
    give,
    hand_off,
    load_state,
    router_for,
    save_state,
)
from leadflow.scoring.service import load_snapshots
from leadflow.storage.database import Database


@dataclass
class SlaReport:
    escalated: list[int] = field(default_factory=list)  # task ids
    reassigned: list[int] = field(default_factory=list)  # contact ids
    recycled: list[int] = field(default_factory=list)  # contact ids
    routed: list[int] = field(default_factory=list)  # contacts nobody had, now owned
    sent: int = 0
    failed: int = 0


def check_sla(db: Database, clock: Clock, channel: Channel) -> SlaReport:
    """The periodic job: run the lifecycle rules (some wait on time), escalate overdue first
    touches, recycle untouched prospects, route the unowned, then deliver the notices."""
    now = clock.now()
    report = SlaReport()
    with db.write() as conn:
        # Rules that wait on time (min_stay) hold without any event: they run here too.
        from leadflow.lifecycle.service import apply_rules

        apply_rules(conn, None, now=now, waiting_only=True)
        config = active_routing(conn)
        if config is not None:
            _escalate(conn, config, now, report)
            _recycle(conn, config, now, report)
            _route_unowned(conn, now, report)
    report.sent, report.failed = deliver_notices(db, channel, now=now)
    return report


def _escalate(conn: Connection, config: RoutingConfig, now: datetime, report: SlaReport) -> None:
    overdue = (
        conn.execute(
            select(tasks).where(
                tasks.c.kind == "first_touch",
                tasks.c.status == "open",
                tasks.c.due_at < now,
                tasks.c.escalated_at.is_(None),
            )
        )
        .mappings()
        .all()
    )
    for row in overdue:
        task = dict(row)
        owner = config.user(task["owner_id"])
        team = config.team(owner.team) if owner is not None and owner.team else None
        report.escalated.append(task["id"])
        if team is not None and team.escalation.value == "reassign":
            _reassign(conn, config, task, now, report)
        else:
            _notify_lead(conn, config, task, team.lead if team else None, now)


def _notify_lead(
    conn: Connection,
    config: RoutingConfig,
    task: Mapping[str, Any],
    lead_id: str | None,
    now: datetime,
) -> None:
    conn.execute(update(tasks).where(tasks.c.id == task["id"]).values(escalated_at=now))
    lead = config.user(lead_id) if lead_id else None
    if lead is None:
        return
    queue_notice(
        conn,
        kind="escalation",
        recipient=lead,
        subject=f"Overdue first touch: contact {task['contact_id']} ({task['owner_id']})",
        body=f"The first touch was due {task['due_at'].isoformat()} and is not done.",
        data={"contact_id": task["contact_id"], "task_id": task["id"], "owner": task["owner_id"]},
        key=f"escalation:{task['id']}",
        now=now,
    )


def _reassign(
    conn: Connection,
    config: RoutingConfig,
    task: Mapping[str, Any],
    now: datetime,
    report: SlaReport,
) -> None:
    """Give the prospect to another rep of the same pool; when nobody else can take it,
    the late owner keeps it and the team lead is told instead."""
    state = load_state(conn)
    snapshot = load_snapshots(conn, [task["contact_id"]], now, activity=False)[task["contact_id"]]
    account = snapshot.account or {}
    # Same territory and industry as the hand-off; anyone but the late owner.
    assignment, state = router_for(config).assign(
        snapshot,
        state,
        now=now,
        country=snapshot.contact.get("country") or account.get("country"),
        industry=account.get("industry"),
        exclude=frozenset({task["owner_id"]}),
    )
    if assignment.user_id is None:
        owner = config.user(task["owner_id"])
        team = config.team(owner.team) if owner is not None and owner.team else None
        _notify_lead(conn, config, task, team.lead if team else None, now)
        return
    save_state(conn, state)
    conn.execute(
        update(tasks)
        .where(tasks.c.id == task["id"])
        .values(status="escalated", escalated_at=now, note="reassigned: first touch overdue")
    )
    give(conn, config, [(task["contact_id"], assignment)], now=now)
    report.reassigned.append(task["contact_id"])


def _recycle(conn: Connection, config: RoutingConfig, now: datetime, report: SlaReport) -> None:
    """Prospects in the hand-off stage longer than ``recycle_after`` with no touch since they
    entered it go back to nurture as recycled (when the lifecycle allows the move)."""
    from leadflow.lifecycle.service import active_lifecycle, recycle

    lifecycle = active_lifecycle(conn)
    after = config.sla.recycle_after
    if lifecycle is None or lifecycle.handoff is None or after is None:
        return
    touched_since = (
        select(activities.c.id)
        .where(
            activities.c.contact_id == contacts.c.id,
            activities.c.type.in_(TOUCH_TYPES),
            activities.c.occurred_at >= contacts.c.stage_entered_at,
        )
        .exists()
    )
    done_since = (
        select(tasks.c.id)
        .where(
            tasks.c.contact_id == contacts.c.id,
            tasks.c.status == "done",
            tasks.c.done_at >= contacts.c.stage_entered_at,
        )
        .exists()
    )
    stale = conn.scalars(
        select(contacts.c.id).where(
            contacts.c.status == "active",
            ~is_erased(contacts.c.id),  # an erased person's tombstone is not followed up
            contacts.c.stage == lifecycle.handoff,
            contacts.c.stage_entered_at <= now - after,
            ~touched_since,
            ~done_since,
        )
    ).all()
    for contact_id in stale:
        reason = f"untouched for {_spoken(after)} after hand-off"
        if recycle(conn, contact_id, reason=reason, now=now):
            _close_open_tasks(conn, contact_id, now=now, note=f"recycled: {reason}")
            report.recycled.append(contact_id)


def _spoken(span: timedelta) -> str:
    """14 days, 36 hours, 90 minutes: a duration as the reason for a move says it."""
    if not span.seconds and not span.microseconds:
        return f"{span.days} day{'s' if span.days != 1 else ''}"
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} hours" if minutes % 60 == 0 else f"{minutes} minutes"


def _close_open_tasks(conn: Connection, contact_id: int, *, now: datetime, note: str) -> None:
    conn.execute(
        update(tasks)
        .where(tasks.c.contact_id == contact_id, tasks.c.status == "open")
        .values(status="cancelled", done_at=now, note=note)
    )


def _route_unowned(conn: Connection, now: datetime, report: SlaReport) -> None:
    from leadflow.lifecycle.service import active_lifecycle

    lifecycle = active_lifecycle(conn)
    if lifecycle is None or lifecycle.handoff is None:
        return
    waiting = conn.scalars(
        select(contacts.c.id).where(
            contacts.c.status == "active",
            ~is_erased(contacts.c.id),  # an erased person's tombstone is not followed up
            contacts.c.stage == lifecycle.handoff,
            contacts.c.owner_id.is_(None),
        )
    ).all()
    for done in hand_off(conn, waiting, now=now):
        if done.assignment.user_id is not None:
            report.routed.append(done.contact_id)


def sla_compliance(db: Database, *, now: datetime) -> tuple[int, int, int]:
    """First touches (done in time, done late or overdue, still open and not yet due)."""
    with db.read() as conn:
        rows = conn.execute(
            select(tasks.c.status, tasks.c.due_at, tasks.c.done_at).where(
                tasks.c.kind == "first_touch"
            )
        ).all()
    met = sum(1 for s, due, done in rows if done is not None and s == "done" and done <= due)
    open_in_time = sum(1 for s, due, _ in rows if s == "open" and due >= now)
    return met, len(rows) - met - open_in_time, open_in_time
