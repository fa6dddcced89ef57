"""Each change a subscriber can hear of publishes exactly one event, in the transaction that
makes the change: a new contact, a stage move, a score crossing a threshold (and its grade
changing), a prospect handed to an owner, a deal won or lost. A rolled-back change
publishes nothing, and nothing at all is written while nobody subscribes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from leadflow.activity.inputs import EventInput
from leadflow.activity.service import record_events
from leadflow.clock import FrozenClock
from leadflow.contacts.engine import prepare_contact
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.service import capture_contact, upsert_contacts
from leadflow.lifecycle.deals import lose_deal, open_deal, win_deal
from leadflow.lifecycle.service import move_contact
from leadflow.routing.service import list_tasks, load_routing
from leadflow.scoring.service import history
from leadflow.webhooks.engine import TOPICS
from leadflow.webhooks.models import webhook_deliveries
from leadflow.workspace import Workspace
from tests.routing.files import ROUTING
from tests.webhooks.conftest import count, events, subscribe


@pytest.fixture
def everything(workspace: Workspace) -> None:
    """One subscriber to every topic."""
    subscribe(workspace, topics=TOPICS, name="all")


def of(workspace: Workspace, topic: str) -> list[dict[str, object]]:
    return [payload for t, payload in events(workspace.db) if t == topic]


def new_contact(workspace: Workspace, email: str = "ann@acme.example") -> int:
    return capture_contact(workspace.db, workspace.clock, ContactInput(email=email)).contact_id


def prospect(workspace: Workspace, email: str = "ann@acme.example") -> int:
    """A contact moved by hand up to prospect (the hand-off stage)."""
    contact_id = new_contact(workspace, email)
    for stage in ("lead", "mql", "sql", "prospect"):
        move_contact(workspace.db, workspace.clock, contact_id, stage, by="sam", reason="test")
    return contact_id


@pytest.mark.usefixtures("everything")
def test_a_won_deal_publishes_deal_won(workspace: Workspace, frozen: FrozenClock):
    contact_id = prospect(workspace)
    opened = open_deal(
        workspace.db, workspace.clock, contact_id, amount=Decimal("1200.50"), by="sam"
    )

    win_deal(workspace.db, workspace.clock, opened.id, reason="signed", by="sam")

    assert of(workspace, "deal.won") == [
        {
            "deal_id": opened.id,
            "contact_id": contact_id,
            "owner_id": "sam",
            "amount": "1200.50",
            "currency": "USD",
            "closed_at": frozen.now().isoformat(),
        }
    ]
    assert of(workspace, "deal.lost") == []


@pytest.mark.usefixtures("everything")
def test_a_lost_deal_publishes_deal_lost(workspace: Workspace):
    contact_id = prospect(workspace)
    opened = open_deal(workspace.db, workspace.clock, contact_id, by="sam")

    lose_deal(workspace.db, workspace.clock, opened.id, reason="budget", by="sam")

    assert [(p["deal_id"], p["amount"]) for p in of(workspace, "deal.lost")] == [(opened.id, None)]


def test_nothing_is_written_while_nobody_subscribes(workspace: Workspace):
    contact_id = prospect(workspace)
    opened = open_deal(workspace.db, workspace.clock, contact_id, by="sam")
    win_deal(workspace.db, workspace.clock, opened.id, reason="signed", by="sam")

    assert events(workspace.db) == []
    assert count(workspace.db, webhook_deliveries) == 0


@pytest.mark.usefixtures("everything")
def test_a_hand_off_publishes_one_prospect_assigned(workspace: Workspace, frozen: FrozenClock):
    load_routing(workspace.db, workspace.clock, ROUTING)
    frozen.set(datetime(2026, 11, 6, 15, 0, tzinfo=UTC))  # Friday 16:00 in Madrid

    contact_id = prospect(workspace)

    (task,) = list_tasks(workspace.db, now=frozen.now())
    assert of(workspace, "prospect.assigned") == [
        {
            "contact_id": contact_id,
            "owner_id": "ana",
            "team": "emea",
            "rule": "everyone",
            "task_id": task.id,
            "first_touch_due_at": task.due_at.isoformat(),
            "at": frozen.now().isoformat(),
        }
    ]


@pytest.mark.usefixtures("everything")
def test_a_new_contact_publishes_contact_created_once(workspace: Workspace, frozen: FrozenClock):
    contact_id = new_contact(workspace)
    again = new_contact(workspace)  # the same person: no new contact

    assert again == contact_id
    assert of(workspace, "contact.created") == [
        {"contact_id": contact_id, "created_at": frozen.now().isoformat()}
    ]


@pytest.mark.usefixtures("everything")
def test_a_rolled_back_capture_publishes_nothing(workspace: Workspace):
    def capture_then_fail() -> None:
        with workspace.db.write() as conn:
            prepared = prepare_contact(ContactInput(email="ann@acme.example"))
            upsert_contacts(conn, [(prepared, None)], now=workspace.clock.now())
            raise RuntimeError("a later step of the same transaction failed")

    with pytest.raises(RuntimeError):
        capture_then_fail()

    assert events(workspace.db) == []
    assert count(workspace.db, webhook_deliveries) == 0


@pytest.mark.usefixtures("everything")
def test_a_stage_move_publishes_one_stage_changed(workspace: Workspace, frozen: FrozenClock):
    contact_id = new_contact(workspace)

    move_contact(workspace.db, workspace.clock, contact_id, "lead", by="sam", reason="called")

    assert of(workspace, "stage.changed") == [
        {
            "contact_id": contact_id,
            "from_stage": "subscriber",
            "to_stage": "lead",
            "at": frozen.now().isoformat(),
            "cause": "manual",
            "rule": None,
            "by": "sam",
        }
    ]


@pytest.mark.usefixtures("everything")
def test_a_score_crossing_a_threshold_publishes_it_once(workspace: Workspace):
    contact_id = new_contact(workspace)
    demo = EventInput(type="demo_requested", contact_id=contact_id)
    record_events(workspace.db, workspace.clock, [demo])
    before = len(of(workspace, "score.threshold_crossed"))

    record_events(workspace.db, workspace.clock, [replace(demo, idempotency_key="second")])

    crossed = of(workspace, "score.threshold_crossed")[before:]
    assert [(p["contact_id"], p["threshold"], p["before"], p["after"]) for p in crossed] == [
        (contact_id, "mql", "below", "above")
    ]
    assert crossed[0]["total"] >= 50
    grades = [(p["before"], p["after"]) for p in of(workspace, "score.grade_changed")]
    assert grades == [tuple(h) for h in grade_history(workspace, contact_id)]


def grade_history(workspace: Workspace, contact_id: int) -> list[tuple[str | None, str]]:
    return [
        (h["before"], h["after"]) for h in history(workspace.db, contact_id) if h["kind"] == "grade"
    ]


@pytest.mark.usefixtures("everything")
def test_a_move_by_rule_on_the_events_path_is_published_with_its_rule(workspace: Workspace):
    contact_id = new_contact(workspace)

    demo = EventInput(type="demo_requested", contact_id=contact_id)
    record_events(workspace.db, workspace.clock, [demo])

    assert [
        (p["from_stage"], p["to_stage"], p["cause"], p["rule"])
        for p in of(workspace, "stage.changed")
    ] == [("subscriber", "lead", "rule", "engaged_subscriber")]
