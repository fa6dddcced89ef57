"""Routing in storage: prospects handed to sales with a first-touch task due in the owner's
business hours, fair turns kept across hand-offs, touches completing tasks, escalations,
recycling and the notice outbox."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from leadflow.activity.inputs import EventInput
from leadflow.activity.service import record_events
from leadflow.channels import MemoryChannel
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import AccountInput, ContactInput
from leadflow.contacts.service import capture_contact
from leadflow.errors import ConfigError
from leadflow.lifecycle.service import move_contact, stage_history, stage_of
from leadflow.routing.config import RoutingConfigError
from leadflow.routing.notices import deliver_notices, list_notices
from leadflow.routing.service import complete_task, list_tasks, load_routing
from leadflow.routing.sla import check_sla, sla_compliance
from leadflow.storage.database import Database
from tests.plans import query_plan, writer_statements
from tests.routing.files import ROUTING


def _prospect(db: Database, clock: FrozenClock, email: str, **account: object) -> int:
    """A contact moved by hand up to sql, then to prospect: the hand-off."""
    contact = ContactInput(email=email, account=AccountInput(**account) if account else None)
    contact_id = capture_contact(db, clock, contact).contact_id
    for stage in ("lead", "mql", "sql", "prospect"):
        move_contact(db, clock, contact_id, stage, by="sam", reason="test")
    return contact_id


def _owner(db: Database, contact_id: int) -> str | None:
    tasks = [
        t for t in list_tasks(db, now=datetime.now(UTC), status=None) if t.contact_id == contact_id
    ]
    return tasks[-1].owner_id if tasks else None


def test_a_prospect_gets_an_owner_a_first_touch_task_and_a_notice(db: Database, clock: FrozenClock):
    load_routing(db, clock, ROUTING)
    clock.set(datetime(2026, 11, 6, 15, 0, tzinfo=UTC))  # Friday 16:00 in Madrid

    contact_id = _prospect(db, clock, "ann@acme.example")

    (task,) = list_tasks(db, now=clock.now())
    assert (task.contact_id, task.owner_id, task.kind) == (contact_id, "ana", "first_touch")
    # 1 hour on Friday (16:00-17:00), 3 on Monday (09:00-12:00 Madrid = 11:00 UTC).
    assert task.due_at == datetime(2026, 11, 9, 11, 0, tzinfo=UTC)
    (notice,) = list_notices(db)
    assert (notice["kind"], notice["recipient"], notice["status"]) == ("handoff", "ana", "pending")

    channel = MemoryChannel()
    assert deliver_notices(db, channel, now=clock.now()) == (1, 0)
    assert [n.recipient_user_id for n in channel.sent] == ["ana"]
    assert list_notices(db)[0]["status"] == "sent"
    assert deliver_notices(db, channel, now=clock.now()) == (0, 0)  # nothing is sent twice


def test_turns_are_fair_across_hand_offs(db: Database, clock: FrozenClock):
    load_routing(db, clock, ROUTING)

    owners = [_owner(db, _prospect(db, clock, f"p{i}@x{i}.example")) for i in range(9)]

    assert owners == ["ana", "bo", "cy"] * 3


def test_a_call_completes_the_first_touch_and_opens_the_follow_up(db: Database, clock: FrozenClock):
    load_routing(db, clock, ROUTING)
    contact_id = _prospect(db, clock, "ann@acme.example")
    clock.advance(timedelta(hours=1))

    record_events(db, clock, [EventInput(type="call", email="ann@acme.example")])

    done = [t for t in list_tasks(db, now=clock.now(), status=None) if t.contact_id == contact_id]
    assert [(t.kind, t.status, t.met) for t in done] == [
        ("first_touch", "done", True),
        ("follow_up", "open", None),
    ]
    assert sla_compliance(db, now=clock.now()) == (1, 0, 0)


def test_a_touch_looks_up_open_tasks_by_contact_not_by_status(db: Database, clock: FrozenClock):
    # With an index on the contact id alone, SQLite chose the (status, due_at) index for
    # two or more contacts' open first touches and read every open task there was: 7 ms a
    # batch at 50,000 open tasks. (Without statistics its choice does not depend on the
    # table's size, so the plan shows it on a small table too.)
    if not db.is_sqlite:
        pytest.skip("SQLite's query plan; PostgreSQL plans from its own statistics")
    load_routing(db, clock, ROUTING)
    _prospect(db, clock, "ann@acme.example")
    _prospect(db, clock, "bob@bolt.example")
    calls = [EventInput(type="call", email=f"{p}.example") for p in ("ann@acme", "bob@bolt")]
    with writer_statements(db) as statements:
        record_events(db, clock, calls)

    (lookup,) = [s for s in statements if "FROM tasks" in s and "'open'" in s and " IN " in s]
    plan = query_plan(db, lookup)
    by_contact = "SEARCH tasks USING INDEX ix_tasks_contact_id_status (contact_id=? AND status=?)"
    assert plan == [by_contact]


def test_an_overdue_first_touch_notifies_the_team_lead_once(db: Database, clock: FrozenClock):
    load_routing(db, clock, ROUTING)
    _prospect(db, clock, "ann@acme.example")
    clock.advance(timedelta(days=1))
    channel = MemoryChannel()

    report = check_sla(db, clock, channel)
    again = check_sla(db, clock, channel)

    assert len(report.escalated) == 1
    assert again.escalated == []
    assert [(n.kind, n.recipient_user_id) for n in channel.sent] == [
        ("handoff", "ana"),
        ("escalation", "lea"),
    ]
    assert sla_compliance(db, now=clock.now()) == (0, 1, 0)


def test_an_overdue_first_touch_is_reassigned_when_the_team_says_so(
    db: Database, clock: FrozenClock
):
    load_routing(db, clock, ROUTING.replace("escalation: notify_lead", "escalation: reassign"))
    contact_id = _prospect(db, clock, "ann@acme.example")
    clock.advance(timedelta(days=1))

    report = check_sla(db, clock, MemoryChannel())

    assert report.reassigned == [contact_id]
    tasks = [t for t in list_tasks(db, now=clock.now(), status=None) if t.contact_id == contact_id]
    assert [(t.owner_id, t.status) for t in tasks] == [("ana", "escalated"), ("bo", "open")]


def test_an_untouched_prospect_returns_to_nurture_as_recycled(db: Database, clock: FrozenClock):
    load_routing(db, clock, ROUTING)
    contact_id = _prospect(db, clock, "ann@acme.example")
    touched_id = _prospect(db, clock, "bob@beta.example")
    record_events(db, clock, [EventInput(type="meeting", email="bob@beta.example")])
    clock.advance(timedelta(days=15))

    report = check_sla(db, clock, MemoryChannel())

    assert report.recycled == [contact_id]
    assert stage_of(db, contact_id)[1] == "recycled"
    assert stage_history(db, contact_id)[-1]["reason"] == "untouched for 14 days after hand-off"
    assert stage_of(db, touched_id)[1] == "prospect"
    open_tasks = [t for t in list_tasks(db, now=clock.now()) if t.contact_id == contact_id]
    assert open_tasks == []


def test_the_account_owner_keeps_the_account(db: Database, clock: FrozenClock):
    text = ROUTING.replace(
        "{name: everyone, team: emea}", "{name: keep, team: emea, strategy: account_owner}"
    )
    load_routing(db, clock, text)
    first = _prospect(db, clock, "ann@acme.example")
    _prospect(db, clock, "zed@other.example")  # bo's turn

    second = _prospect(db, clock, "bea@acme.example")

    assert _owner(db, first) == _owner(db, second) == "ana"


def test_completing_a_task_twice_is_refused(db: Database, clock: FrozenClock):
    load_routing(db, clock, ROUTING)
    _prospect(db, clock, "ann@acme.example")
    (task,) = list_tasks(db, now=clock.now())

    complete_task(db, clock, task.id, note="called")

    with pytest.raises(Exception, match="is done, not open"):
        complete_task(db, clock, task.id)


def test_a_bad_routing_file_is_refused_and_the_previous_stays(db: Database, clock: FrozenClock):
    load_routing(db, clock, ROUTING)

    with pytest.raises(
        RoutingConfigError,
        match=r"routing.yaml:9: rule .everyone.: .* missing team .amer.",
    ):
        load_routing(db, clock, ROUTING.replace("team: emea}\nsla", "team: amer}\nsla"))
    with pytest.raises(ConfigError, match=r"routing.yaml:2: user 'ana'.*nope"):
        load_routing(
            db,
            clock,
            ROUTING.replace(
                "timezone: Europe/Madrid}", "timezone: Europe/Madrid, hours: {nope: '9-5'}}", 1
            ),
        )

    _prospect(db, clock, "ann@acme.example")
    assert len(list_tasks(db, now=clock.now())) == 1  # routed by the first file


def test_a_follow_up_in_days_is_due_at_the_close_of_that_business_day(
    db: Database, clock: FrozenClock
):
    load_routing(db, clock, ROUTING)
    clock.set(datetime(2026, 11, 6, 15, 0, tzinfo=UTC))  # Friday 16:00 in Madrid
    _prospect(db, clock, "ann@acme.example")
    (task,) = list_tasks(db, now=clock.now())

    complete_task(db, clock, task.id)

    (follow_up,) = list_tasks(db, now=clock.now())
    # Two business days: Monday and Tuesday; due when Tuesday closes (17:00 Madrid).
    assert (follow_up.kind, follow_up.due_at) == (
        "follow_up",
        datetime(2026, 11, 10, 16, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("holidays", "problem"),
    [
        ("{contry: ES}", "holidays: unknown key 'contry'; use country, subdivision, dates"),
        ("{dates: '2026-12-24'}", "holidays: dates: expected a list of dates"),
    ],
)
def test_bad_holidays_are_refused_on_their_own_line(
    db: Database, clock: FrozenClock, holidays: str, problem: str
):
    text = ROUTING.replace(
        "timezone: Europe/Madrid}", f"timezone: Europe/Madrid, holidays: {holidays}}}", 1
    )

    with pytest.raises(ConfigError, match=f"routing.yaml:2: user 'ana': {re.escape(problem)}"):
        load_routing(db, clock, text)


def test_a_late_owner_with_nobody_to_take_over_keeps_it_and_the_lead_is_told(
    db: Database, clock: FrozenClock
):
    solo = ROUTING.replace("escalation: notify_lead", "escalation: reassign")
    for rep in ("bo", "cy"):
        solo = "\n".join(line for line in solo.splitlines() if f"id: {rep}," not in line) + "\n"
    load_routing(db, clock, solo)
    contact_id = _prospect(db, clock, "ann@acme.example")
    clock.advance(timedelta(days=1))
    channel = MemoryChannel()

    report = check_sla(db, clock, channel)

    assert report.reassigned == []
    (task,) = [t for t in list_tasks(db, now=clock.now()) if t.contact_id == contact_id]
    assert (task.owner_id, task.status) == ("ana", "open")
    assert [(n.kind, n.recipient_user_id) for n in channel.sent][-1] == ("escalation", "lea")


def test_a_prospect_nobody_can_take_waits_and_the_lead_is_told_why_once_a_day(
    db: Database, clock: FrozenClock
):
    full = ROUTING.replace("timezone: Europe/Madrid}", "timezone: Europe/Madrid, daily_quota: 1}")
    load_routing(db, clock, full)
    for i in range(3):
        _prospect(db, clock, f"p{i}@x{i}.example")

    waiting = _prospect(db, clock, "late@y.example")
    check_sla(db, clock, MemoryChannel())  # tries again the same day: still nobody

    assert stage_of(db, waiting)[1] == "prospect"
    assert [t for t in list_tasks(db, now=clock.now()) if t.contact_id == waiting] == []
    (told,) = [n for n in list_notices(db) if n["kind"] == "unrouted"]
    assert told["recipient"] == "lea"
    assert told["data"]["reason"] == "every owner of team emea is at their daily quota"

    clock.advance(timedelta(days=1))  # a new day: quotas reset, the prospect is routed
    report = check_sla(db, clock, MemoryChannel())
    assert report.routed == [waiting]


def test_a_notice_that_keeps_failing_is_given_up_after_72_hours(db: Database, clock: FrozenClock):
    load_routing(db, clock, ROUTING)
    _prospect(db, clock, "ann@acme.example")
    made = clock.now()
    channel = MemoryChannel()

    channel.fail_next(1)
    assert deliver_notices(db, channel, now=made + timedelta(hours=71)) == (0, 1)
    assert list_notices(db)[0]["status"] == "failed"  # tried again later
    channel.fail_next(1)
    assert deliver_notices(db, channel, now=made + timedelta(hours=72)) == (0, 1)
    assert list_notices(db)[0]["status"] == "dead"

    assert deliver_notices(db, channel, now=made + timedelta(hours=73)) == (0, 0)
    assert channel.sent == []  # a dead notice is not sent again
