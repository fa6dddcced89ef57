"""The demo generator: deterministic, and shaped like a real B2B funnel."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest

from leadflow.contacts.inputs import CHANNELS
from leadflow.contacts.normalize import SENIORITIES, seniority_from_title
from leadflow.demo.engine import DemoData, generate
from leadflow.demo.timing import Window
from leadflow.errors import ValidationError
from tests.conftest import START


@pytest.fixture(scope="module")
def demo() -> DemoData:
    # Large enough for rates to settle, small enough to generate in about a second.
    return generate(end=START, contacts=1000, days=90, seed=11)


def _arrivals(demo: DemoData) -> dict[str, datetime]:
    return {t.email.lower(): t.arrived_at for t in demo.truth}


def _events_per_contact(demo: DemoData) -> Counter[str]:
    return Counter(e.email.lower() for e in demo.events if e.email)


def test_same_seed_gives_identical_data():
    first = generate(end=START, contacts=120, days=30, seed=3)
    second = generate(end=START, contacts=120, days=30, seed=3)

    assert first == second


def test_another_seed_gives_other_data():
    first = generate(end=START, contacts=120, days=30, seed=3)
    other = generate(end=START, contacts=120, days=30, seed=4)

    assert [t.email for t in first.truth] != [t.email for t in other.truth]
    assert len(first.events) != len(other.events)


def test_size_and_window_follow_the_arguments(demo: DemoData):
    assert len(demo.truth) == 1000
    assert demo.end == START
    assert demo.start == START - timedelta(days=90)


@pytest.mark.parametrize(("contacts", "days"), [(0, 90), (10, 0)])
def test_impossible_sizes_are_refused(contacts: int, days: int):
    with pytest.raises(ValidationError):
        generate(end=START, contacts=contacts, days=days)


def test_every_channel_brings_contacts(demo: DemoData):
    first_touch = Counter(t.channel for t in demo.truth)

    assert set(first_touch) == set(CHANNELS)
    # Paid ads and web forms lead, as paid and organic search lead Olist's funnel.
    assert first_touch.most_common(2)[0][0] in {"paid_ads", "web_form"}


def test_paid_social_and_email_touches_carry_campaign_and_utm(demo: DemoData):
    touches = [c.touch for c in demo.captures if c.touch.channel in {"paid_ads", "email"}]

    assert touches
    for touch in touches:
        assert touch.campaign
        assert touch.utm_source
        assert touch.utm_medium
        assert touch.utm_campaign


def test_arrivals_mostly_on_weekdays(demo: DemoData):
    weekdays = sum(t.arrived_at.weekday() < 5 for t in demo.truth)

    # Olist's sign-ups: 87 % on weekdays.
    assert 0.8 < weekdays / len(demo.truth) < 0.95


def test_conversion_rate_is_realistic(demo: DemoData):
    converted = sum(t.converted for t in demo.truth)
    lost = sum(t.lost for t in demo.truth)

    assert 0.07 < converted / len(demo.truth) < 0.15
    assert 0.5 < converted / (converted + lost) < 0.8  # Maven: 63 % of closed deals are won


def test_converters_fit_better_and_want_more(demo: DemoData):
    converters = [t for t in demo.truth if t.converted]
    others = [t for t in demo.truth if not t.converted]

    assert statistics.mean(t.fit for t in converters) > statistics.mean(t.fit for t in others)
    assert statistics.mean(t.intent for t in converters) > 1.5 * statistics.mean(
        t.intent for t in others
    )


def test_converters_are_more_engaged(demo: DemoData):
    counts = _events_per_contact(demo)
    converters = [counts[t.email.lower()] for t in demo.truth if t.converted]
    others = [counts[t.email.lower()] for t in demo.truth if not t.converted]

    assert statistics.mean(converters) > 1.5 * statistics.mean(others)


def test_eager_people_keep_engaging_while_the_curious_fade(demo: DemoData):
    ranked = sorted(demo.truth, key=lambda t: t.intent)
    low = {t.email.lower(): t.arrived_at for t in ranked[: len(ranked) // 4]}
    high = {t.email.lower(): t.arrived_at for t in ranked[-len(ranked) // 4 :]}
    web = {"page_view", "pricing_page_view", "content_download"}
    lag: dict[str, list[float]] = defaultdict(list)
    for event in demo.events:
        email = (event.email or "").lower()
        for name, group in (("low", low), ("high", high)):
            if email in group and event.type in web and event.occurred_at:
                lag[name].append((event.occurred_at - group[email]).total_seconds() / 86_400)

    assert len(lag["high"]) > 3 * len(lag["low"])
    assert statistics.median(lag["high"]) > statistics.median(lag["low"])


def test_pricing_page_visitors_have_more_intent(demo: DemoData):
    intent = {t.email.lower(): t.intent for t in demo.truth}
    visitors = {e.email.lower() for e in demo.events if e.type == "pricing_page_view" and e.email}

    assert statistics.mean(intent[v] for v in visitors) > statistics.mean(intent.values())


def test_events_lie_in_the_window_and_after_arrival(demo: DemoData):
    arrivals = _arrivals(demo)
    anonymous = {
        c.contact.anonymous_id: arrivals[(c.contact.email or "").lower()]
        for c in demo.captures
        if c.contact.anonymous_id
    }
    for event in demo.events:
        assert event.occurred_at is not None
        assert demo.start <= event.occurred_at <= demo.end
        if event.anonymous_id:
            assert event.occurred_at < anonymous[event.anonymous_id]
        else:
            assert event.email is not None
            assert event.occurred_at >= arrivals[event.email.lower()]


def test_outcomes_are_recorded_as_deal_events(demo: DemoData):
    won = {e.email.lower() for e in demo.events if e.type == "deal_won" and e.email}
    lost = {e.email.lower() for e in demo.events if e.type == "deal_lost" and e.email}

    assert won == {t.email.lower() for t in demo.truth if t.converted}
    assert lost == {t.email.lower() for t in demo.truth if t.lost}
    for truth in demo.truth:
        if truth.converted_at is not None:
            assert truth.arrived_at < truth.converted_at <= demo.end


def test_activity_covers_the_funnel(demo: DemoData):
    types = Counter(e.type for e in demo.events)

    for kind in (
        "page_view",
        "pricing_page_view",
        "content_download",
        "webinar_registered",
        "webinar_attended",
        "email_sent",
        "email_opened",
        "email_clicked",
        "email_replied",
        "email_bounced",
        "unsubscribe",
        "form_submit",
        "demo_requested",
        "meeting",
        "call",
    ):
        assert types[kind] > 0, kind
    assert types["email_opened"] < types["email_sent"] / 3


def test_forms_carry_bant_answers(demo: DemoData):
    demo_requests = [
        e.properties["fields"]
        for e in demo.events
        if e.type == "form_submit" and e.properties["form"] == "demo-request"
    ]

    assert demo_requests
    for fields in demo_requests:
        assert {"budget", "role", "timeline", "challenge", "company_size"} <= set(fields)


def test_people_are_varied(demo: DemoData):
    contacts = [c.contact for c in demo.captures]
    seniorities = {seniority_from_title(c.title) for c in contacts}

    assert seniorities == set(SENIORITIES)
    assert len({c.country for c in contacts}) >= 8
    free_mail = sum(c.account is None for c in contacts)
    assert 0.08 < free_mail / len(contacts) < 0.3
    assert 0.1 < sum(c.phone is not None for c in contacts) / len(contacts) < 0.6
    accounts = {c.account.domain for c in contacts if c.account}
    assert len(accounts) < 0.6 * len(contacts)  # colleagues share an account


def test_some_people_arrive_twice_with_their_address_retyped(demo: DemoData):
    by_email: dict[str, list[str]] = defaultdict(list)
    for capture in demo.captures:
        email = capture.contact.email or ""
        by_email[email.lower()].append(email)
    again = [spellings for spellings in by_email.values() if len(spellings) > 1]

    assert len(again) > 0.03 * len(demo.truth)
    assert all(len(set(spellings)) == 2 for spellings in again)


def test_near_duplicates_share_name_and_company_but_not_email(demo: DemoData):
    truth = {t.record: t for t in demo.truth}
    contact = {c.record: c.contact for c in demo.captures}
    twins = [t for t in demo.truth if t.duplicate_of is not None]

    assert len(twins) == 20
    for twin in twins:
        original = contact[truth[twin.duplicate_of].record]  # type: ignore[index]
        copy = contact[twin.record]
        assert (copy.first_name, copy.last_name, copy.company) == (
            original.first_name,
            original.last_name,
            original.company,
        )
        assert (copy.email or "").lower() != (original.email or "").lower()


def test_some_visitors_browse_anonymously_before_giving_their_email(demo: DemoData):
    identified = {c.contact.anonymous_id for c in demo.captures if c.contact.anonymous_id}
    browsed = {e.anonymous_id for e in demo.events if e.anonymous_id}

    assert len(browsed) > 0.1 * len(demo.truth)
    assert browsed <= identified


def test_a_long_window_keeps_its_calendar_to_the_end():
    window = Window.ending(START, 730)

    assert window.newsletters[-1][0] > START - timedelta(days=7)
    assert window.webinars[-1].at > START
