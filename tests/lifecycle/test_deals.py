"""Deals in storage, under the default lifecycle: opening one makes an opportunity, winning
makes a customer with a renewal date, losing the last open deal makes the contact lost;
refused requests write nothing; every opportunity has a deal; a customer's health."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update

from leadflow.activity.inputs import EventInput
from leadflow.activity.service import record_events
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import AccountInput, ContactInput
from leadflow.contacts.models import contacts
from leadflow.contacts.service import capture_contact
from leadflow.errors import Conflict, NotFound, ValidationError
from leadflow.lifecycle.deals import (
    Deal,
    customer_health,
    deal,
    ensure_deal,
    list_deals,
    lose_deal,
    one_year_after,
    open_deal,
    set_deal_stage,
    win_deal,
)
from leadflow.lifecycle.engine import MoveNotAllowed
from leadflow.lifecycle.models import deals
from leadflow.lifecycle.service import move_contact, stage_history, stage_of
from leadflow.storage.database import Database

ANN = "ann@acme.example"
DAY = timedelta(days=1)


def make_contact(
    db: Database,
    clock: FrozenClock,
    email: str = ANN,
    *,
    stage: str = "prospect",
    owner: str | None = "olga",
    company: str | None = "Acme",
) -> int:
    """A contact at an account, moved by hand along the main path up to ``stage``."""
    account = AccountInput(domain=email.split("@")[1], name=company) if company else None
    captured = ContactInput(email=email, first_name="Ann", last_name="Lee", account=account)
    contact_id = capture_contact(db, clock, captured).contact_id
    with db.write() as conn:
        conn.execute(update(contacts).where(contacts.c.id == contact_id).values(owner_id=owner))
    path = ["lead", "mql", "sql", "prospect", "opportunity", "customer"]
    for target in path[: path.index(stage) + 1] if stage in path else []:
        move_contact(db, clock, contact_id, target, by="sam", reason="setting up")
    return contact_id


def moves(db: Database, contact_id: int) -> list[tuple[Any, ...]]:
    return [
        (h["from_stage"], h["to_stage"], h["cause"], h["by_user"], h["reason"])
        for h in stage_history(db, contact_id)
    ]


def deal_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(deals)).scalar_one())


# -- opening -------------------------------------------------------------------------------


def test_opening_a_deal_makes_the_prospect_an_opportunity(db: Database, clock: FrozenClock):
    contact_id = make_contact(db, clock)
    before = moves(db, contact_id)

    opened = open_deal(
        db,
        clock,
        ANN,
        name="Acme platform",
        amount=Decimal("12000.50"),
        currency="eur",
        expected_close=date(2026, 12, 15),
        by="sam",
    )

    assert opened == Deal(
        id=1,
        contact_id=contact_id,
        account_id=opened.account_id,
        owner_id="olga",  # the contact's owner
        name="Acme platform",
        amount=Decimal("12000.50"),
        currency="EUR",
        expected_close=date(2026, 12, 15),
        stage="qualification",
        probability=0.2,
        status="open",
        reason=None,
        renewal_date=None,
        created_at=clock.now(),
        closed_at=None,
    )
    assert opened.account_id is not None
    assert stage_of(db, contact_id) == (contact_id, "opportunity", clock.now())
    assert moves(db, contact_id) == [
        *before,
        ("prospect", "opportunity", "deal", "sam", "deal 1 opened: Acme platform"),
    ]


def test_a_deal_stage_sets_its_probability_unless_one_is_given(db: Database, clock: FrozenClock):
    make_contact(db, clock)

    proposal = open_deal(db, clock, ANN, stage="proposal", by="sam")
    hopeful = open_deal(db, clock, ANN, stage="negotiation", probability=0.9, by="sam")

    assert (proposal.stage, proposal.probability) == ("proposal", 0.5)
    assert (hopeful.stage, hopeful.probability) == ("negotiation", 0.9)


def test_a_deal_is_named_after_the_account_else_the_contact(db: Database, clock: FrozenClock):
    make_contact(db, clock)
    make_contact(db, clock, "bo@gmail.com", company=None, owner=None)

    assert open_deal(db, clock, ANN, by="sam").name == "Acme"
    unowned = open_deal(db, clock, "bo@gmail.com", by="sam")
    assert (unowned.name, unowned.account_id, unowned.owner_id) == ("Ann Lee", None, "sam")


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({"currency": "EURO"}, "currency: 'EURO' is not an ISO 4217 currency code"),
        ({"currency": "ABC"}, "currency: 'ABC' is not an ISO 4217 currency code"),
        ({"amount": Decimal("-1")}, "amount: -1: use a number of 0 or more"),
        ({"amount": Decimal("10.005")}, "amount: 10.005: use at most 2 decimals"),
        ({"amount": Decimal("NaN")}, "amount: NaN: use a number of 0 or more"),
        ({"amount": Decimal("1e12")}, r"amount: 1E\+12: use less than 1,000,000,000,000"),
        ({"amount": 10.5}, "amount: 10.5: give a Decimal, not a float"),
        ({"probability": 1.5}, "probability: 1.5: use a number from 0 to 1"),
        ({"stage": "won"}, "stage: unknown deal stage 'won'; stages: qualification, proposal"),
        ({"expected_close": datetime(2026, 12, 1, tzinfo=UTC)}, "expected_close: .*YYYY-MM-DD"),
        ({"expected_close": "2026-12-01"}, "expected_close: .*YYYY-MM-DD"),
        ({"name": "x" * 256}, "name: use at most 255 characters"),
        ({"by": " "}, "by: say who opens the deal"),
    ],
)
def test_invalid_terms_are_refused_and_nothing_is_written(
    db: Database, clock: FrozenClock, terms: dict[str, Any], message: str
):
    contact_id = make_contact(db, clock)
    before = moves(db, contact_id)

    with pytest.raises(ValidationError, match=message):
        open_deal(db, clock, ANN, **{"by": "sam", **terms})

    assert deal_count(db) == 0
    assert stage_of(db, contact_id)[1] == "prospect"
    assert moves(db, contact_id) == before


def test_a_contact_whose_stage_does_not_allow_an_opportunity_is_refused(
    db: Database, clock: FrozenClock
):
    contact_id = make_contact(db, clock, stage="mql")

    with pytest.raises(MoveNotAllowed, match="mql -> opportunity is not an allowed move"):
        open_deal(db, clock, ANN, amount=Decimal(100), by="sam")

    assert deal_count(db) == 0
    assert stage_of(db, contact_id)[1] == "mql"


def test_a_second_deal_for_an_opportunity_moves_nothing(db: Database, clock: FrozenClock):
    contact_id = make_contact(db, clock)
    open_deal(db, clock, ANN, by="sam")
    before = moves(db, contact_id)

    second = open_deal(db, clock, ANN, name="Add-on", by="sam")

    assert second.id == 2
    assert moves(db, contact_id) == before
    assert [d.id for d in list_deals(db, status="open")] == [1, 2]


# -- the pipeline --------------------------------------------------------------------------


def test_moving_an_open_deal_through_the_pipeline(db: Database, clock: FrozenClock):
    make_contact(db, clock)
    opened = open_deal(db, clock, ANN, by="sam")

    assert set_deal_stage(db, opened.id, "proposal").probability == 0.5
    moved = set_deal_stage(db, opened.id, "negotiation", probability=0.6)
    assert (moved.stage, moved.probability) == ("negotiation", 0.6)
    with pytest.raises(ValidationError, match="unknown deal stage 'closing'"):
        set_deal_stage(db, opened.id, "closing")
    with pytest.raises(NotFound, match="no deal 99"):
        set_deal_stage(db, 99, "proposal")


# -- winning and losing --------------------------------------------------------------------


def test_a_won_deal_makes_a_customer_with_a_renewal_date(db: Database, clock: FrozenClock):
    contact_id = make_contact(db, clock)
    opened = open_deal(db, clock, ANN, amount=Decimal(5000), by="sam")
    clock.advance(3 * DAY)

    won = win_deal(db, clock, opened.id, reason="signed the annual plan", by="sam")

    assert (won.status, won.probability, won.reason) == ("won", 1.0, "signed the annual plan")
    assert won.closed_at == clock.now()
    assert won.renewal_date == date(2027, 11, 5)  # a year after closing on 2026-11-05
    assert stage_of(db, contact_id) == (contact_id, "customer", clock.now())
    assert moves(db, contact_id)[-1] == (
        "opportunity",
        "customer",
        "deal",
        "sam",
        "deal 1 won: signed the annual plan",
    )


def test_a_renewal_date_may_be_given_but_not_before_closing(db: Database, clock: FrozenClock):
    make_contact(db, clock)
    opened = open_deal(db, clock, ANN, by="sam")

    with pytest.raises(ValidationError, match="renewal_date: 2026-11-01: is before the deal"):
        win_deal(db, clock, opened.id, reason="signed", renewal_date=date(2026, 11, 1), by="sam")
    assert deal(db, opened.id).status == "open"

    won = win_deal(db, clock, opened.id, reason="signed", renewal_date=date(2027, 6, 30), by="s")
    assert won.renewal_date == date(2027, 6, 30)


def test_a_lost_deal_makes_the_contact_lost_only_without_another_open_deal(
    db: Database, clock: FrozenClock
):
    contact_id = make_contact(db, clock)
    first = open_deal(db, clock, ANN, by="sam")
    second = open_deal(db, clock, ANN, name="Add-on", by="sam")
    before = moves(db, contact_id)

    lost = lose_deal(db, clock, first.id, reason="no budget", by="sam")
    assert (lost.status, lost.probability, lost.closed_at) == ("lost", 0.0, clock.now())
    assert lost.renewal_date is None
    assert stage_of(db, contact_id)[1] == "opportunity"
    assert moves(db, contact_id) == before

    lose_deal(db, clock, second.id, reason="chose a competitor", by="sam")
    assert stage_of(db, contact_id)[1] == "lost"
    assert moves(db, contact_id)[-1] == (
        "opportunity",
        "lost",
        "deal",
        "sam",
        "deal 2 lost: chose a competitor",
    )


def test_a_customer_who_loses_an_extra_deal_stays_a_customer(db: Database, clock: FrozenClock):
    contact_id = make_contact(db, clock)
    main = open_deal(db, clock, ANN, by="sam")
    extra = open_deal(db, clock, ANN, name="Add-on", by="sam")
    win_deal(db, clock, main.id, reason="signed", by="sam")

    lose_deal(db, clock, extra.id, reason="not now", by="sam")

    assert stage_of(db, contact_id)[1] == "customer"


@pytest.mark.parametrize("stage", ["customer", "advocate"])
def test_a_customer_gets_an_upsell_deal_and_stays_where_it_is(
    db: Database, clock: FrozenClock, stage: str
):
    contact_id = make_contact(db, clock, stage="customer")
    if stage == "advocate":
        move_contact(db, clock, contact_id, "advocate", by="sam", reason="referred two")
    before = moves(db, contact_id)

    upsell = open_deal(db, clock, ANN, name="Add-on seats", amount=Decimal("4000"), by="sam")
    win_deal(db, clock, upsell.id, reason="signed the add-on", by="sam")

    assert stage_of(db, contact_id)[1] == stage
    assert moves(db, contact_id) == before  # no trip back through opportunity


def test_a_lost_contact_can_become_an_opportunity_again(db: Database, clock: FrozenClock):
    contact_id = make_contact(db, clock)
    lose_deal(db, clock, open_deal(db, clock, ANN, by="sam").id, reason="no budget", by="sam")

    open_deal(db, clock, ANN, name="Second try", by="sam")

    assert moves(db, contact_id)[-1][:3] == ("lost", "opportunity", "deal")


def test_a_closed_deal_cannot_be_closed_again(db: Database, clock: FrozenClock):
    make_contact(db, clock)
    won = open_deal(db, clock, ANN, by="sam")
    win_deal(db, clock, won.id, reason="signed", by="sam")

    with pytest.raises(Conflict, match="deal 1 is won already"):
        lose_deal(db, clock, won.id, reason="changed their mind", by="sam")
    with pytest.raises(Conflict, match="deal 1 is won already"):
        win_deal(db, clock, won.id, reason="again", by="sam")
    with pytest.raises(Conflict, match="deal 1 is won already"):
        set_deal_stage(db, won.id, "proposal")
    assert deal(db, won.id).reason == "signed"


def test_closing_needs_a_reason_and_who(db: Database, clock: FrozenClock):
    make_contact(db, clock)
    opened = open_deal(db, clock, ANN, by="sam")

    with pytest.raises(ValidationError, match="reason: say why the deal was won"):
        win_deal(db, clock, opened.id, reason=" ", by="sam")
    with pytest.raises(ValidationError, match="reason: say why the deal was lost"):
        lose_deal(db, clock, opened.id, reason="", by="sam")
    with pytest.raises(ValidationError, match="by: say who closes the deal"):
        lose_deal(db, clock, opened.id, reason="no budget", by="")
    assert deal(db, opened.id).status == "open"


def test_winning_follows_the_allowed_moves(db: Database, clock: FrozenClock):
    contact_id = make_contact(db, clock)
    opened = open_deal(db, clock, ANN, by="sam")
    move_contact(db, clock, contact_id, "lost", by="sam", reason="went silent")

    with pytest.raises(MoveNotAllowed, match="lost -> customer is not an allowed move"):
        win_deal(db, clock, opened.id, reason="signed after all", by="sam")

    assert deal(db, opened.id).status == "open"


def test_one_year_after_the_29th_of_february_is_the_28th():
    assert one_year_after(date(2028, 2, 29)) == date(2029, 2, 28)
    assert one_year_after(date(2026, 11, 2)) == date(2027, 11, 2)


# -- every opportunity has a deal ----------------------------------------------------------


def test_ensure_deal_opens_a_default_deal_once(db: Database, clock: FrozenClock):
    contact_id = make_contact(db, clock, owner=None)

    with db.write() as conn:
        opened = ensure_deal(conn, contact_id, now=clock.now(), by="sam")
        again = ensure_deal(conn, contact_id, now=clock.now(), by="sam")

    assert opened is not None
    assert (opened.name, opened.amount, opened.currency) == ("Acme", None, "USD")
    assert (opened.stage, opened.probability, opened.owner_id) == ("qualification", 0.2, "sam")
    assert again is None
    assert deal_count(db) == 1


def test_ensure_deal_leaves_a_contact_with_an_open_deal_alone(db: Database, clock: FrozenClock):
    contact_id = make_contact(db, clock)
    open_deal(db, clock, ANN, by="sam")

    with db.write() as conn:
        assert ensure_deal(conn, contact_id, now=clock.now(), by=None) is None
    assert deal_count(db) == 1


# -- reading -------------------------------------------------------------------------------


def test_deals_are_listed_by_status_and_owner(db: Database, clock: FrozenClock):
    make_contact(db, clock)
    make_contact(db, clock, "bo@beta.example", owner="pat", company="Beta")
    open_deal(db, clock, ANN, by="sam")
    open_deal(db, clock, "bo@beta.example", by="sam")
    win_deal(db, clock, 1, reason="signed", by="sam")

    assert [d.id for d in list_deals(db)] == [1, 2]
    assert [d.id for d in list_deals(db, status="won")] == [1]
    assert [d.id for d in list_deals(db, owner="pat")] == [2]
    assert list_deals(db, status="open", owner="olga") == []
    with pytest.raises(ValidationError, match="status: 'closed': use one of open, won, lost"):
        list_deals(db, status="closed")
    with pytest.raises(NotFound, match="no deal 7"):
        deal(db, 7)


def test_a_customers_health_comes_from_its_timeline(db: Database, clock: FrozenClock):
    make_contact(db, clock)
    win_deal(db, clock, open_deal(db, clock, ANN, by="sam").id, reason="signed", by="sam")
    events = [
        EventInput("nps_submitted", clock.now() - 200 * DAY, email=ANN, properties={"score": 2}),
        EventInput("nps_submitted", clock.now() - 30 * DAY, email=ANN, properties={"score": 4}),
        EventInput("nps_submitted", clock.now() - 2 * DAY, email=ANN, properties={"score": 10}),
        EventInput("feedback_submitted", clock.now() - DAY, email=ANN, properties={"rating": 4}),
        EventInput("page_view", clock.now() - DAY, email=ANN),
    ]
    ids = record_events(db, clock, events).event_ids

    found = customer_health(db, clock, ANN)

    assert (found.status, found.score) == ("good", 91.7)  # 50 + 50 x (2 x 1 + 0.5) / 3
    assert found.evidence == (ids[2], ids[3])
    assert found.reasons[-1] == "NPS 4 (detractor) on 2026-10-03: superseded by a later answer"


def test_a_customer_without_signals_has_an_unknown_health(db: Database, clock: FrozenClock):
    make_contact(db, clock)

    found = customer_health(db, clock, ANN)

    assert (found.status, found.score, found.evidence) == ("unknown", None, ())
