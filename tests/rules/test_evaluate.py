"""The evaluator's trace: what each node saw, which events were the evidence, how many."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import leadflow.rules as rules
from leadflow.rules import Snapshot, evaluate, matches, parse_condition

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def event(id_: int, type_: str, ago: timedelta, **props: object) -> dict[str, object]:
    return {"id": id_, "type": type_, "occurred_at": NOW - ago, "source": None, "properties": props}


def snapshot(**overrides: object) -> Snapshot:
    values: dict[str, object] = {
        "contact": {"title": "VP Sales", "first_touch_id": 7, "last_touch_id": 8, "properties": {}},
        "now": NOW,
        "account": {"industry": "Software", "employee_count": 120, "properties": {}},
        "touches": [
            {"id": 7, "channel": "webinar", "utm_source": None, "occurred_at": NOW - 9 * DAY},
            {"id": 8, "channel": "email", "utm_source": "news", "occurred_at": NOW - DAY},
        ],
        "activities": [
            event(3, "page_view", 2 * DAY, path="/pricing"),
            event(1, "page_view", 40 * DAY, path="/pricing"),
            event(2, "page_view", DAY, path="/blog"),
            event(5, "page_view", 3 * DAY, path="/Pricing/teams"),
            event(4, "demo_requested", 5 * DAY),
        ],
        **overrides,
    }
    return Snapshot(**values)  # type: ignore[arg-type]


PRICING = {
    "activity": {
        "type": "page_view",
        "where": {"properties.path": {"starts_with": "/pricing"}},
        "within": "30d",
        "count": {"gte": 2},
    }
}


def test_an_event_condition_names_its_evidence_oldest_first_and_counts_it():
    trace = evaluate(parse_condition(PRICING), snapshot())

    assert (trace.matched, trace.count, trace.evidence) == (True, 2, (5, 3))


def test_an_event_condition_that_fails_still_shows_what_it_found():
    condition = parse_condition(
        {**PRICING, "activity": {**PRICING["activity"], "count": {"gte": 3}}}
    )
    trace = evaluate(condition, snapshot())

    assert (trace.matched, trace.count, trace.evidence) == (False, 2, (5, 3))


def test_groups_trace_every_child_without_short_circuit():
    condition = parse_condition(
        {
            "any": [
                {"account.industry": {"eq": "software"}},
                {"contact.title": {"contains": "director"}},
                {"not": {"last_touch.channel": {"eq": "email"}}},
            ]
        }
    )
    trace = evaluate(condition, snapshot())

    assert trace.matched is True
    assert [child.matched for child in trace.children] == [True, False, False]
    assert [child.value for child in trace.children[:2]] == ["Software", "VP Sales"]
    assert trace.children[2].children[0].value == "email"


def test_explain_lists_every_node_with_its_value_or_evidence():
    condition = parse_condition(
        {"all": [{"account.employee_count": {"between": [50, 500]}}, PRICING]}
    )

    assert evaluate(condition, snapshot()).explain() == [
        "[x] all of",
        "  [x] account.employee_count between [50, 500]  (value: 120)",
        "  [x] (activity type in ['page_view'] where properties.path starts_with '/pricing' "
        "within 30d count gte 2)  (count 2; ids: 5, 3)",
    ]


def test_a_missing_value_is_shown_as_missing():
    trace = evaluate(parse_condition({"contact.country": {"ne": "US"}}), snapshot())

    assert trace.matched is True
    assert trace.explain() == ["[x] contact.country ne 'US'  (value: missing)"]


def test_first_and_last_touch_are_found_by_the_contact_s_pointers():
    first = parse_condition({"first_touch.channel": {"eq": "webinar"}})
    last = parse_condition({"last_touch.utm_source": {"eq": "NEWS"}})

    assert (matches(first, snapshot()), matches(last, snapshot())) == (True, True)


def test_time_windows_count_back_from_the_snapshot_s_now_not_the_clock():
    condition = parse_condition({"activity": {"type": "demo_requested", "within": "7d"}})

    assert matches(condition, snapshot()) is True
    assert matches(condition, snapshot(now=NOW + 3 * DAY)) is False


def test_no_account_means_every_account_field_is_missing():
    condition = parse_condition({"account.industry": {"is_set": False}})

    assert matches(condition, snapshot(account=None)) is True


@pytest.mark.parametrize("name", rules.__all__)
def test_public_names_exist(name):
    assert hasattr(rules, name)
