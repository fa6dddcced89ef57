"""Hypothesis strategies: random people and random conditions from the whole vocabulary.

Values are drawn from small pools shared by the data and the conditions, so that conditions
match often enough to be interesting, and the pools hold the awkward cases on purpose: case
variants, non-ASCII capitals (folded by neither back end), LIKE wildcards, empty text,
newlines, numbers stored as text, booleans next to numbers, JSON null, and times exactly on
the edges of the windows.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from leadflow.contacts.inputs import CHANNELS
from leadflow.contacts.normalize import SENIORITIES
from leadflow.rules.errors import ConditionError, Problem
from leadflow.rules.parse import parse_condition
from tests.rules.world import Person

# The db fixture is function-scoped: each example cleans up after itself (see world.erase).
settings.register_profile(
    "rules",
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("rules-thorough", parent=settings.get_profile("rules"), max_examples=1000)
PROFILE = settings.get_profile(os.environ.get("LEADFLOW_RULES_PROFILE", "rules"))

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
_OFFSETS = [
    -31 * DAY,
    -30 * DAY,
    -30 * DAY + timedelta(microseconds=1),
    -30 * DAY - timedelta(microseconds=1),
    -7 * DAY,
    -timedelta(hours=1),
    -timedelta(seconds=1),
    timedelta(0),
    timedelta(microseconds=1),
    2 * DAY,
]
DURATIONS = ["1h", "7d", "30d", "1w"]

TEXTS = [
    "VP Sales",
    "vp sales",
    "Head of Sales",
    "ÉCOLE",
    "école",
    "Straße",
    "a%b",
    "a_b",
    "",
    "100",
    "x\ny",
    " vp ",
    "director",
]
COUNTRIES = ["US", "us", "DE", "Ü1"]
PROPERTY_KEYS = ["plan", "budget", "flag"]
STAGES = ["lead", "mql", "prospect"]
GRADES = ["A1", "B3", "D4"]
CRITERIA = ["budget", "need", "timing"]
CRITERION_VALUES = ["yes", "now", "10k_50k", ""]
NUMBERS = [0, 1, 10, 50, 100, -3, 2.5, 1000.25]
REGEXES = [
    "^vp",
    "sales$",
    "v.p",
    "[a-c]",
    "\\d+",
    "^(vp|head)",
    "é",
    "É",
    "x\\ny",
    "^.?$",
    "s{2}",
    "[^a-z ]",
    "a\\%b",
    "\\w+ \\w+",
]
ACTIVITY_TYPES = ["page_view", "form_submitted", "email_clicked"]
SOURCES = ["web", "Web", "crm", "ÉCOLE"]

times = st.builds(
    lambda o, jitter: NOW + o + jitter,
    st.sampled_from(_OFFSETS),
    st.sampled_from([timedelta(0), timedelta(0), timedelta(hours=-5)]),
)
texts = st.sampled_from(TEXTS)
numbers = st.sampled_from(NUMBERS)
property_texts = st.sampled_from(["pro", "PRO", "Pro plan", "ÉCOLE", "", "10"])
property_numbers = st.sampled_from([0, 1, 2.5, 10])
json_values = st.one_of(
    property_texts, property_numbers, st.booleans(), st.none(), st.just([1, "a"]), st.just({"x": 1})
)
properties = st.dictionaries(st.sampled_from(PROPERTY_KEYS), json_values, max_size=3)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


contact_rows = st.fixed_dictionaries(
    {
        "email": _optional(st.sampled_from(["ann@acme.com", "BOB@Acme.com", "c@x.org"])),
        "title": _optional(texts),
        "seniority": _optional(st.sampled_from(SENIORITIES)),
        "country": _optional(st.sampled_from(COUNTRIES)),
        "stage": _optional(st.sampled_from(STAGES)),
        "stage_entered_at": _optional(times),
        "owner_id": _optional(st.sampled_from(["ana", "bob"])),
        "properties": properties,
    }
)
score_rows = st.builds(
    lambda fit, engagement, grade: {
        "fit": fit,
        "engagement": engagement,
        "total": fit + engagement,
        "grade": grade,
    },
    st.sampled_from([0.0, 10.0, 25.0, 40.5]),
    st.sampled_from([0.0, 8.0, 20.0, 59.75]),
    st.sampled_from(GRADES),
)
qualification_rows = st.dictionaries(
    st.sampled_from(CRITERIA), st.sampled_from(CRITERION_VALUES), max_size=3
)
account_rows = st.fixed_dictionaries(
    {
        "industry": _optional(texts),
        "country": _optional(st.sampled_from(COUNTRIES)),
        "employee_count": _optional(st.sampled_from([0, 1, 10, 50, 100, -3])),
        "annual_revenue": _optional(numbers.map(float)),
        "properties": properties,
    }
)
touch_rows = st.fixed_dictionaries(
    {
        "channel": st.sampled_from(CHANNELS[:4]),
        "utm_source": _optional(st.sampled_from(["google", "Google", "linkedin", ""])),
        "campaign": _optional(texts),
        "occurred_at": times,
    }
)
activity_rows = st.fixed_dictionaries(
    {
        "type": st.sampled_from(ACTIVITY_TYPES),
        "occurred_at": times,
        "source": _optional(st.sampled_from(SOURCES)),
        "properties": properties,
    }
)


@st.composite
def people(draw: st.DrawFn) -> Person:
    touches = draw(st.lists(touch_rows, max_size=3))
    pointer = st.none() if not touches else _optional(st.integers(0, len(touches) - 1))
    return Person(
        contact=draw(contact_rows),
        account=draw(_optional(account_rows)),
        touches=touches,
        activities=draw(st.lists(activity_rows, max_size=5)),
        first_touch=draw(pointer),
        last_touch=draw(pointer),
        score=draw(_optional(score_rows)),
        qualification=draw(qualification_rows),
    )


# ---- conditions, as the plain data the API would send -------------------------------------

_TEXT_FIELDS = {
    "contact.email": st.sampled_from(["ann@acme.com", "bob@acme.com", "acme"]),
    "contact.title": texts,
    "contact.country": st.sampled_from(COUNTRIES),
    "contact.seniority": st.sampled_from([*SENIORITIES, "VP"]),
    "account.industry": texts,
    "account.country": st.sampled_from(COUNTRIES),
    "first_touch.channel": st.sampled_from([*CHANNELS[:4], "WEBINAR"]),
    "last_touch.utm_source": st.sampled_from(["google", "GOOGLE", "link"]),
    "last_touch.campaign": texts,
    "contact.stage": st.sampled_from([*STAGES, "MQL"]),
    "contact.owner_id": st.sampled_from(["ana", "bob", "Ana"]),
    "score.grade": st.sampled_from([*GRADES, "a1"]),
    "score.fit_grade": st.sampled_from(["A", "b", "D"]),
    "score.engagement_grade": st.sampled_from(["1", "3"]),
    **{f"qualification.{c}": st.sampled_from([*CRITERION_VALUES, "NOW"]) for c in CRITERIA},
}
_NUMBER_FIELDS = [
    "account.employee_count",
    "account.annual_revenue",
    "score.fit",
    "score.engagement",
    "score.total",
]
_TIME_FIELDS = [
    "contact.last_activity_at",
    "contact.stage_entered_at",
    "first_touch.occurred_at",
    "last_touch.occurred_at",
]
_PROPERTY_FIELDS = [
    f"{owner}.properties.{key}" for owner in ("contact", "account") for key in PROPERTY_KEYS
]
_CHOICE_FIELDS = {"contact.seniority", "first_touch.channel"}

time_points = st.one_of(
    st.sampled_from(DURATIONS),
    st.sampled_from(_OFFSETS).map(lambda o: (NOW + o).isoformat()),
)


def _text_test(values: st.SearchStrategy[str], choices: bool) -> st.SearchStrategy[dict]:
    non_empty = values.filter(bool)
    tests = [
        st.builds(lambda v: {"eq": v}, values),
        st.builds(lambda v: {"ne": v}, values),
        st.builds(lambda v: {"in": v}, st.lists(values, min_size=1, max_size=3)),
        st.builds(lambda v: {"is_set": v}, st.booleans()),
    ]
    if not choices:
        tests += [
            st.builds(lambda v: {"contains": v}, non_empty),
            st.builds(lambda v: {"starts_with": v}, non_empty),
            st.builds(lambda v: {"regex": v}, st.sampled_from(REGEXES)),
        ]
    return st.one_of(tests)


def _number_tests(pool: st.SearchStrategy[Any]) -> st.SearchStrategy[dict]:
    ops = st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"])
    return st.one_of(
        st.builds(lambda op, v: {op: v}, ops, pool),
        st.builds(lambda v: {"in": v}, st.lists(pool, min_size=1, max_size=3)),
        st.builds(lambda v: {"between": v}, st.lists(pool, min_size=2, max_size=2).map(sorted)),
        st.builds(lambda v: {"is_set": v}, st.booleans()),
    )


number_tests = _number_tests(numbers)
time_tests = st.one_of(
    st.builds(lambda op, v: {op: v}, st.sampled_from(["before", "after"]), time_points),
    st.builds(lambda v: {"within": v}, st.sampled_from(DURATIONS)),
    st.builds(lambda v: {"is_set": v}, st.booleans()),
)
property_tests = st.one_of(
    _text_test(property_texts, choices=False),
    _number_tests(property_numbers),
    st.builds(lambda op, v: {op: v}, st.sampled_from(["eq", "ne"]), st.booleans()),
    st.builds(lambda v: {"in": v}, st.lists(st.booleans(), min_size=1, max_size=2)),
)


def _field_test(field: str, tests: st.SearchStrategy[dict]) -> st.SearchStrategy[dict]:
    return tests.map(lambda test: {field: test})


# One branch per kind (one_of flattens nested one_ofs, so a branch per text field would
# crowd out the rest).
contact_leaves = st.one_of(
    st.sampled_from(list(_TEXT_FIELDS)).flatmap(
        lambda f: _field_test(f, _text_test(_TEXT_FIELDS[f], f in _CHOICE_FIELDS))
    ),
    st.sampled_from(_NUMBER_FIELDS).flatmap(lambda f: _field_test(f, number_tests)),
    st.sampled_from(_TIME_FIELDS).flatmap(lambda f: _field_test(f, time_tests)),
    st.sampled_from(_PROPERTY_FIELDS).flatmap(lambda f: _field_test(f, property_tests)),
)
activity_leaves = st.one_of(
    _field_test("source", _text_test(st.sampled_from(SOURCES), choices=False)),
    st.sampled_from([f"properties.{k}" for k in PROPERTY_KEYS]).flatmap(
        lambda f: _field_test(f, property_tests)
    ),
)
touch_leaves = st.one_of(
    _field_test("utm_source", _text_test(st.sampled_from(["google", "GOOGLE", "lin"]), False)),
    _field_test("channel", _text_test(st.sampled_from(CHANNELS[:4]), choices=True)),
    _field_test("campaign", _text_test(texts, choices=False)),
)


def _tree(leaves: st.SearchStrategy[dict], max_leaves: int) -> st.SearchStrategy[dict]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda items: {"all": items}),
            st.lists(inner, min_size=1, max_size=3).map(lambda items: {"any": items}),
            inner.map(lambda item: {"not": item}),
        ),
        max_leaves=max_leaves,
    )


_counts = st.one_of(
    st.builds(
        lambda op, n: {op: n},
        st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]),
        st.integers(1, 3),
    ),
    st.just({"eq": 0}),
    st.lists(st.integers(0, 3), min_size=2, max_size=2).map(lambda p: {"between": sorted(p)}),
)


@st.composite
def event_conditions(draw: st.DrawFn, kind: str) -> dict:
    body: dict[str, Any] = {}
    if kind == "activity" and draw(st.booleans()):
        body["type"] = draw(st.lists(st.sampled_from(ACTIVITY_TYPES), min_size=1, max_size=2))
    if draw(st.booleans()):
        body["where"] = draw(_tree(activity_leaves if kind == "activity" else touch_leaves, 3))
    for key, values in (
        ("within", st.sampled_from(DURATIONS)),
        ("after", time_points),
        ("before", time_points),
    ):
        if draw(st.integers(0, 3)) == 0:
            body[key] = draw(values)
    if draw(st.booleans()):
        body["count"] = draw(_counts)
    return {kind: body}


def _parses(data: dict) -> bool:
    # The drawn window parts may leave no time at all (after 7d, before 30d), which the
    # parser rightly refuses; such draws are dropped.
    try:
        parse_condition(data)
    except ConditionError as exc:
        if exc.problem is Problem.BAD_WINDOW:
            return False
        raise  # anything else is a bug in these strategies
    return True


conditions = _tree(
    st.one_of(contact_leaves, event_conditions("activity"), event_conditions("touch")),
    max_leaves=6,
).filter(_parses)
