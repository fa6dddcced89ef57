"""Stages in storage, with the workspace's default lifecycle and scoring model: new contacts
start in the initial stage, rules move them on events, qualification and rescoring, moves by
hand are checked and logged, hysteresis holds, and forms fill criteria."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from leadflow.activity.inputs import EventInput
from leadflow.activity.service import record_events
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import AccountInput, ContactInput
from leadflow.contacts.models import contacts
from leadflow.contacts.service import capture_contact
from leadflow.errors import ValidationError
from leadflow.lifecycle.deals import list_deals
from leadflow.lifecycle.engine import MoveNotAllowed, decide
from leadflow.lifecycle.service import (
    active_lifecycle,
    load_lifecycle,
    move_contact,
    qualification_of,
    qualify,
    stage_history,
    stage_of,
)
from leadflow.scoring.service import current_score, load_snapshots, rescore
from leadflow.storage.database import Database

SCORING = Path(__file__).parents[2] / "src/leadflow/scoring/default_scoring.yaml"
DEFAULT = Path(__file__).parents[2] / "src/leadflow/lifecycle/default_lifecycle.yaml"


def _fit_contact(db: Database, clock: FrozenClock, email: str = "ann@acme.example") -> int:
    """Fit 47 (grade A) under the default model: a VP of marketing at a US software firm."""
    contact = ContactInput(
        email=email,
        title="VP Marketing",
        seniority="vp",
        country="US",
        account=AccountInput(industry="Software", employee_count=200),
    )
    return capture_contact(db, clock, contact).contact_id


def _event(kind: str, email: str = "ann@acme.example", **props: Any) -> EventInput:
    return EventInput(type=kind, email=email, properties=props)


def _moves(db: Database, contact_id: int) -> list[tuple[Any, ...]]:
    return [
        (h["from_stage"], h["to_stage"], h["cause"], h["rule"] or h["by_user"])
        for h in stage_history(db, contact_id)
    ]


def test_a_new_contact_starts_in_the_initial_stage(db: Database, clock: FrozenClock):
    contact_id = capture_contact(db, clock, ContactInput(email="bo@x.example")).contact_id

    assert stage_of(db, contact_id) == (contact_id, "subscriber", clock.now())
    assert stage_history(db, contact_id) == []  # starting is not a move


def test_events_move_a_contact_through_every_rule_that_holds(db: Database, clock: FrozenClock):
    contact_id = _fit_contact(db, clock)
    assert stage_of(db, contact_id)[1] == "subscriber"

    result = record_events(db, clock, [_event("demo_requested"), _event("trial_started")])

    # 45 points of engagement: a lead, then (fit A, total 92) an MQL, then the demo
    # request makes it sales-accepted: three rules in one batch.
    assert _moves(db, contact_id) == [
        ("subscriber", "lead", "rule", "engaged_subscriber"),
        ("lead", "mql", "rule", "marketing_qualified"),
        ("mql", "sql", "rule", "sales_accepted"),
    ]
    history = stage_history(db, contact_id)
    assert {h["activity_id"] for h in history} == {result.event_ids[-1]}
    assert history[1]["reason"] == (
        "marketing_qualified: all(score.fit_grade in ['A', 'B'], score.total gte 60)"
    )


def test_qualification_and_a_two_way_conversation_make_a_prospect(db: Database, clock: FrozenClock):
    contact_id = _fit_contact(db, clock)
    record_events(db, clock, [_event("demo_requested"), _event("trial_started")])
    clock.advance(timedelta(hours=1))

    record = qualify(db, clock, contact_id, {"need": "high"}, by="sam")
    assert stage_of(db, contact_id)[1] == "sql"  # timing still unknown
    qualify(db, clock, contact_id, {"timing": "this_quarter"}, by="sam")

    assert stage_of(db, contact_id)[1] == "prospect"
    assert _moves(db, contact_id)[-1] == ("sql", "prospect", "rule", "qualified_prospect")
    assert [(r.criterion, r.value, r.source, r.set_by, r.confidence) for r in record] == [
        ("need", "high", "sales", "sam", 1.0)
    ]


def test_a_bad_criterion_value_is_refused_and_nothing_is_written(db: Database, clock: FrozenClock):
    contact_id = _fit_contact(db, clock)

    with pytest.raises(ValidationError, match="timing: 'soon' is not one of none, later"):
        qualify(db, clock, contact_id, {"need": "high", "timing": "soon"}, by="sam")
    with pytest.raises(ValidationError, match="unknown criterion 'colour'"):
        qualify(db, clock, contact_id, {"colour": "red"}, by="sam")

    assert qualification_of(db, contact_id) == []


def test_a_move_by_hand_is_checked_and_logged_with_who_and_why(db: Database, clock: FrozenClock):
    contact_id = _fit_contact(db, clock)
    move_contact(db, clock, contact_id, "lead", by="sam", reason="met at a fair")

    with pytest.raises(MoveNotAllowed, match="lead -> customer is not an allowed move"):
        move_contact(db, clock, contact_id, "customer", by="sam", reason="signed")
    with pytest.raises(ValidationError, match="reason"):
        move_contact(db, clock, contact_id, "mql", by="sam", reason=" ")

    assert stage_of(db, contact_id)[1] == "lead"
    assert [
        (h["from_stage"], h["to_stage"], h["by_user"], h["reason"])
        for h in stage_history(db, contact_id)
    ] == [("subscriber", "lead", "sam", "met at a fair")]


def test_a_backward_move_is_allowed_where_configured_and_logged(db: Database, clock: FrozenClock):
    contact_id = _fit_contact(db, clock)
    move_contact(db, clock, contact_id, "mql", by="sam", reason="hand-raiser")

    move = move_contact(db, clock, contact_id, "lead", by="sam", reason="not ready")

    assert move.backward is True
    assert _moves(db, contact_id)[-1] == ("mql", "lead", "manual", "sam")


def test_hysteresis_keeps_a_contact_in_mql_until_its_minimum_stay(db: Database, clock: FrozenClock):
    contact_id = capture_contact(db, clock, ContactInput(email="cy@x.example")).contact_id
    move_contact(db, clock, contact_id, "mql", by="sam", reason="hand-raiser")  # total 0 < 40

    record_events(db, clock, [_event("page_view", "cy@x.example")])
    assert stage_of(db, contact_id)[1] == "mql"  # cooled_off needs 14 days in mql

    clock.advance(timedelta(days=14))
    record_events(db, clock, [_event("page_view", "cy@x.example")])

    assert _moves(db, contact_id)[-1] == ("mql", "lead", "rule", "cooled_off")
    # Back in lead, the same data moves it nowhere: no flip-flop.
    record_events(db, clock, [_event("page_view", "cy@x.example")])
    assert stage_of(db, contact_id)[1] == "lead"


def test_form_answers_fill_criteria_but_never_overwrite_sales(db: Database, clock: FrozenClock):
    capture = ContactInput(
        email="di@x.example", properties={"budget": "10k_50k", "challenge": "nurture"}
    )
    contact_id = capture_contact(db, clock, capture).contact_id
    qualify(db, clock, contact_id, {"need": "high"}, by="sam")

    again = ContactInput(
        email="di@x.example",
        properties={"budget": "over_50k", "challenge": "just_looking", "timeline": "soon"},
    )
    capture_contact(db, clock, again)

    found = {
        r.criterion: (r.value, r.source, r.confidence) for r in qualification_of(db, contact_id)
    }
    # "soon" is not a timing value: not kept.
    assert found == {"budget": ("over_50k", "form", 0.6), "need": ("high", "sales", 1.0)}


def test_a_rescore_runs_the_rules_for_everyone(db: Database, clock: FrozenClock):
    contact_id = _fit_contact(db, clock)
    record_events(db, clock, [_event("pricing_page_view")])  # 8 points: a lead, total 55
    assert stage_of(db, contact_id)[1] == "lead"

    richer = SCORING.read_text().replace(
        "points: 8\n    cap: {per_day: 1, total: 5}", "points: 20\n    cap: {per_day: 1, total: 5}"
    )
    assert richer != SCORING.read_text()
    rescore(db, clock, richer, filename="scoring.yaml")

    assert _moves(db, contact_id)[-1] == ("lead", "mql", "rule", "marketing_qualified")


def test_loading_a_lifecycle_moves_contacts_that_meet_its_rules(db: Database, clock: FrozenClock):
    contact_id = _fit_contact(db, clock)
    text = (Path(__file__).parents[2] / "src/leadflow/lifecycle/default_lifecycle.yaml").read_text()
    easier = text.replace("when: {score.engagement: {gte: 5}}", "when: {score.fit: {gte: 40}}")

    config, moved = load_lifecycle(db, clock, easier)

    assert moved == 1
    assert _moves(db, contact_id) == [("subscriber", "lead", "rule", "engaged_subscriber")]
    with db.read() as conn:
        assert active_lifecycle(conn) == config


def test_set_based_rules_agree_with_the_reference_decision(db: Database, clock: FrozenClock):
    """decide() on a snapshot (the reference) gives the moves apply_rules made."""
    contact_id = _fit_contact(db, clock)
    with db.read() as conn:
        config = active_lifecycle(conn)
        assert config is not None
    record_events(db, clock, [_event("demo_requested")])
    made = [(h["from_stage"], h["to_stage"]) for h in stage_history(db, contact_id)]

    # Replay: the contact as it was before the moves, with its score and activity now.
    with db.read() as conn:
        snapshot = load_snapshots(conn, [contact_id], clock.now(), activity=True)[contact_id]
    score = current_score(db, contact_id, now=clock.now()).score
    before = {**snapshot.contact, "stage": "subscriber", "stage_entered_at": clock.now()}
    replayed = replace(
        snapshot,
        contact=before,
        score={
            "fit": score.fit,
            "engagement": score.engagement,
            "total": score.total,
            "grade": score.grade,
        },
        qualification={},
    )

    reference = decide(config, replayed, now=clock.now())

    assert [(m.source, m.target) for m in reference] == made


def test_rules_do_not_undo_a_move_by_hand_within_the_hold(db: Database, clock: FrozenClock):
    contact_id = _fit_contact(db, clock)
    record_events(db, clock, [_event("pricing_page_view"), _event("webinar_attended")])
    assert stage_of(db, contact_id)[1] == "mql"  # fit 47, total 65

    move_contact(db, clock, contact_id, "lead", by="sam", reason="not ready yet")
    record_events(db, clock, [_event("pricing_page_view")])
    assert stage_of(db, contact_id)[1] == "lead"  # the same data does not overrule sam

    clock.advance(timedelta(days=31))
    record_events(db, clock, [_event("demo_requested"), _event("trial_started")])
    assert _moves(db, contact_id)[-2:] == [
        ("lead", "mql", "rule", "marketing_qualified"),
        ("mql", "sql", "rule", "sales_accepted"),
    ]


def test_loading_a_lifecycle_stages_contacts_that_have_none(db: Database, clock: FrozenClock):
    contact_id = capture_contact(db, clock, ContactInput(email="ed@x.example")).contact_id
    with db.write() as conn:
        conn.execute(update(contacts).values(stage=None, stage_entered_at=None))
    clock.advance(timedelta(days=1))

    load_lifecycle(db, clock, DEFAULT.read_text())

    assert stage_of(db, contact_id) == (contact_id, "subscriber", clock.now() - timedelta(days=1))


def test_a_move_to_opportunity_opens_one_deal(db: Database, clock: FrozenClock):
    contact_id = _fit_contact(db, clock)
    for stage in ("lead", "mql", "sql", "prospect", "opportunity"):
        move_contact(db, clock, contact_id, stage, by="sam", reason="test")

    (deal,) = list_deals(db)
    assert (deal.contact_id, deal.status) == (contact_id, "open")
