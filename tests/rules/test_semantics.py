"""The documented semantics, case by case, on both back ends: each case is evaluated in
Python and through the compiled SQL, and both must give the expected answer."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from leadflow.rules.evaluate import matches
from leadflow.rules.parse import parse_condition
from leadflow.storage.database import Database
from tests.rules.strategies import NOW
from tests.rules.world import Person, snapshots, sql_matches, store

MICRO = timedelta(microseconds=1)
DAY = timedelta(days=1)


def titled(title: str | None) -> Person:
    return Person(contact={"title": title})


def with_props(**props: object) -> Person:
    return Person(contact={"properties": props})


def active_at(at: datetime) -> Person:
    """A contact whose activities end at ``at`` (an earlier one shows max is taken)."""
    return Person(activities=[{"occurred_at": at - 3 * DAY}, {"occurred_at": at}])


def with_account(**account: object) -> Person:
    return Person(account=account)


def with_events(*occurred: timedelta, **values: object) -> Person:
    return Person(activities=[{"occurred_at": NOW + o, **values} for o in occurred])


CASES = [
    # text: ASCII letters fold, nothing else does
    ("eq folds ascii", {"contact.title": {"eq": "vp sales"}}, titled("VP Sales"), True),
    ("eq keeps non-ascii case", {"contact.title": {"eq": "école"}}, titled("ÉCOLE"), False),
    ("eq is exact otherwise", {"contact.title": {"eq": "vp"}}, titled(" vp "), False),
    ("eq on missing", {"contact.title": {"eq": "vp"}}, titled(None), False),
    ("eq empty text", {"contact.title": {"eq": ""}}, titled(""), True),
    ("ne on missing", {"contact.title": {"ne": "vp"}}, titled(None), True),
    ("ne folds", {"contact.title": {"ne": "VP"}}, titled("vp"), False),
    (
        "in folds",
        {"contact.country": {"in": ["de", "us"]}},
        Person(contact={"country": "US"}),
        True,
    ),
    ("in on missing", {"contact.country": {"in": ["US"]}}, Person(), False),
    ("contains folds", {"contact.title": {"contains": "SALES"}}, titled("VP Sales"), True),
    ("contains % is literal", {"contact.title": {"contains": "%"}}, titled("a%b"), True),
    ("contains no wildcard", {"contact.title": {"contains": "a%b"}}, titled("axb"), False),
    ("starts_with _ literal", {"contact.title": {"starts_with": "a_"}}, titled("abc"), False),
    ("starts_with folds", {"contact.title": {"starts_with": "HEAD"}}, titled("Head of"), True),
    (
        "starts_with longer",
        {"contact.title": {"starts_with": "vp sales x"}},
        titled("VP Sales"),
        False,
    ),
    ("regex folds", {"contact.title": {"regex": "^VP (s|m)"}}, titled("vp Sales"), True),
    ("regex $ is end only", {"contact.title": {"regex": "vp$"}}, titled("vp\n"), False),
    ("regex dot newline", {"contact.title": {"regex": "x.y"}}, titled("x\ny"), True),
    ("regex \\w ascii", {"contact.title": {"regex": "^\\w+$"}}, titled("école"), False),
    ("regex on missing", {"contact.title": {"regex": "."}}, titled(None), False),
    ("is_set on empty text", {"contact.title": {"is_set": True}}, titled(""), True),
    ("is_set false missing", {"contact.title": {"is_set": False}}, titled(None), True),
    # numbers: inclusive between, 64-bit float comparison
    (
        "between low edge",
        {"account.employee_count": {"between": [50, 500]}},
        with_account(employee_count=50),
        True,
    ),
    (
        "between high edge",
        {"account.employee_count": {"between": [50, 500]}},
        with_account(employee_count=500),
        True,
    ),
    ("gt edge", {"account.employee_count": {"gt": 50}}, with_account(employee_count=50), False),
    ("gte edge", {"account.employee_count": {"gte": 50}}, with_account(employee_count=50), True),
    (
        "lt float",
        {"account.annual_revenue": {"lt": 1000.5}},
        with_account(annual_revenue=1000.25),
        True,
    ),
    (
        "eq int float",
        {"account.employee_count": {"eq": 10.0}},
        with_account(employee_count=10),
        True,
    ),
    (
        "in numbers",
        {"account.employee_count": {"in": [1, 10]}},
        with_account(employee_count=10),
        True,
    ),
    # a missing account: every account field is missing
    ("no account eq", {"account.industry": {"eq": "saas"}}, Person(), False),
    ("no account ne", {"account.industry": {"ne": "saas"}}, Person(), True),
    ("no account is_set false", {"account.industry": {"is_set": False}}, Person(), True),
    ("no account lt", {"account.employee_count": {"lt": 10}}, Person(), False),
    # custom properties: the operand's type decides which JSON values can match
    ("prop text eq", {"contact.properties.plan": {"eq": "PRO"}}, with_props(plan="pro"), True),
    (
        "prop number vs text",
        {"contact.properties.budget": {"eq": 10}},
        with_props(budget="10"),
        False,
    ),
    (
        "prop text vs number",
        {"contact.properties.budget": {"eq": "10"}},
        with_props(budget=10),
        False,
    ),
    ("prop number eq", {"contact.properties.budget": {"eq": 10}}, with_props(budget=10.0), True),
    ("prop gt float", {"contact.properties.budget": {"gt": 2}}, with_props(budget=2.5), True),
    ("prop bool not number", {"contact.properties.flag": {"eq": 1}}, with_props(flag=True), False),
    ("prop bool eq", {"contact.properties.flag": {"eq": True}}, with_props(flag=True), True),
    ("prop bool false", {"contact.properties.flag": {"eq": False}}, with_props(flag=True), False),
    ("prop bool gt", {"contact.properties.flag": {"gte": 0}}, with_props(flag=False), False),
    (
        "prop null is unset",
        {"contact.properties.plan": {"is_set": True}},
        with_props(plan=None),
        False,
    ),
    ("prop list is set", {"contact.properties.plan": {"is_set": True}}, with_props(plan=[1]), True),
    ("prop list eq", {"contact.properties.plan": {"contains": "a"}}, with_props(plan=["a"]), False),
    ("prop absent ne", {"contact.properties.plan": {"ne": "pro"}}, with_props(), True),
    ("prop other type ne", {"contact.properties.plan": {"ne": "pro"}}, with_props(plan=5), True),
    ("prop in booleans", {"contact.properties.flag": {"in": [True]}}, with_props(flag=True), True),
    ("prop key with dash", {"contact.properties.x-y": {"eq": 1}}, with_props(**{"x-y": 1}), True),
    # times: within is [now - d, now]; after includes its instant, before excludes it.
    # last_activity_at is the latest activity's time, derived on both back ends.
    (
        "within edge",
        {"contact.last_activity_at": {"within": "30d"}},
        active_at(NOW - 30 * DAY),
        True,
    ),
    (
        "within past edge",
        {"contact.last_activity_at": {"within": "30d"}},
        active_at(NOW - 30 * DAY - MICRO),
        False,
    ),
    (
        "within now",
        {"contact.last_activity_at": {"within": "1h"}},
        active_at(NOW),
        True,
    ),
    (
        "within future",
        {"contact.last_activity_at": {"within": "1h"}},
        active_at(NOW + MICRO),
        False,
    ),
    (
        "after edge",
        {"contact.last_activity_at": {"after": "7d"}},
        active_at(NOW - 7 * DAY),
        True,
    ),
    (
        "before edge",
        {"contact.last_activity_at": {"before": "7d"}},
        active_at(NOW - 7 * DAY),
        False,
    ),
    (
        "before absolute",
        {"contact.last_activity_at": {"before": "2026-11-02"}},
        active_at(NOW - DAY),
        True,
    ),
    (
        "after offset",
        {"contact.last_activity_at": {"after": "2026-11-02T10:00:00+02:00"}},
        active_at(NOW),
        True,
    ),
    ("time missing", {"contact.last_activity_at": {"before": "1d"}}, Person(), False),
    # touches
    (
        "first touch",
        {"first_touch.channel": {"eq": "webinar"}},
        Person(touches=[{"channel": "webinar"}, {"channel": "email"}], first_touch=0, last_touch=1),
        True,
    ),
    (
        "last touch",
        {"last_touch.channel": {"eq": "webinar"}},
        Person(touches=[{"channel": "webinar"}, {"channel": "email"}], first_touch=0, last_touch=1),
        False,
    ),
    (
        "no last touch ne",
        {"last_touch.channel": {"ne": "email"}},
        Person(touches=[{"channel": "email"}]),
        True,
    ),
    (
        "any touch",
        {"touch": {"where": {"utm_source": {"eq": "GOOGLE"}}}},
        Person(touches=[{"utm_source": "x"}, {"utm_source": "google"}]),
        True,
    ),
    ("touch count", {"touch": {"count": {"gte": 2}}}, Person(touches=[{}, {}]), True),
    # activity: types, filters, windows, counts
    ("at least once", {"activity": {"type": "page_view"}}, with_events(-DAY), True),
    ("other type", {"activity": {"type": ["form_submitted"]}}, with_events(-DAY), False),
    ("count gte 3", {"activity": {"count": {"gte": 3}}}, with_events(-DAY, -DAY, -2 * DAY), True),
    (
        "count in window",
        {"activity": {"within": "30d", "count": {"gte": 3}}},
        with_events(-DAY, -DAY, -31 * DAY),
        False,
    ),
    ("count eq 0 none", {"activity": {"count": {"eq": 0}}}, Person(), True),
    ("count lt with some", {"activity": {"count": {"lt": 2}}}, with_events(-DAY), True),
    ("count between", {"activity": {"count": {"between": [2, 3]}}}, with_events(-DAY, -DAY), True),
    ("count ne", {"activity": {"count": {"ne": 2}}}, with_events(-DAY, -DAY), False),
    (
        "window after+before",
        {"activity": {"after": "30d", "before": "7d"}},
        with_events(-7 * DAY),
        False,
    ),
    (
        "window after edge",
        {"activity": {"after": "30d", "before": "7d"}},
        with_events(-30 * DAY),
        True,
    ),
    ("future event", {"activity": {"within": "30d"}}, with_events(DAY), False),
    ("future counts plain", {"activity": {}}, with_events(DAY), True),
    (
        "where property",
        {"activity": {"where": {"properties.path": {"starts_with": "/pricing"}}}},
        with_events(-DAY, properties={"path": "/Pricing/team"}),
        True,
    ),
    (
        "where not",
        {"activity": {"where": {"not": {"source": {"eq": "crm"}}}}},
        with_events(-DAY, source=None),
        True,
    ),
    (
        "where source",
        {"activity": {"where": {"source": {"in": ["crm"]}}}},
        with_events(-DAY, source="CRM"),
        True,
    ),
    # groups
    ("not", {"not": {"contact.title": {"eq": "vp"}}}, titled(None), True),
    (
        "any",
        {"any": [{"contact.title": {"eq": "x"}}, {"contact.title": {"is_set": True}}]},
        titled("vp"),
        True,
    ),
    (
        "all",
        {"all": [{"contact.title": {"eq": "vp"}}, {"contact.country": {"is_set": True}}]},
        titled("vp"),
        False,
    ),
]


@pytest.mark.parametrize(
    ("condition", "person", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_semantics_on_both_back_ends(db: Database, condition, person, expected):
    parsed = parse_condition(condition)
    [contact_id] = store(db, [person])
    snapshot = snapshots(db, [contact_id], NOW)[contact_id]

    assert matches(parsed, snapshot) is expected
    assert (sql_matches(db, parsed, [contact_id], NOW) == {contact_id}) is expected
