"""Reading conditions: every problem names the file, the line and what is wrong, with a
stable code; plain API data gets the same checks, located by path."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from leadflow.errors import ConfigError
from leadflow.rules.ast import (
    AllOf,
    AnyOf,
    CountTest,
    EventCondition,
    Field,
    Kind,
    Not,
    Op,
    Predicate,
    Scope,
    TimePoint,
    Window,
)
from leadflow.rules.errors import ConditionError
from leadflow.rules.parse import parse_condition, parse_condition_yaml


def error(text: str) -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        parse_condition_yaml(textwrap.dedent(text).lstrip("\n"), filename="scoring.yaml")
    return caught.value


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        (
            """
            all:
              - contact.title: {contains: vp}
              - contact.title: {containz: vp}
            """,
            "condition_unknown_operator",
            "scoring.yaml:3: unknown operator 'containz' (did you mean 'contains'?)",
        ),
        (
            """
            any:
              - contact.titel: {eq: vp}
            """,
            "condition_unknown_field",
            "scoring.yaml:2: unknown field 'contact.titel' (did you mean 'contact.title'?)",
        ),
        (
            """
            all:
              - account.employee_count:
                  gte: "50"
            """,
            "condition_wrong_type",
            "scoring.yaml:3: expected a number, got text '50'",
        ),
        (
            """
            contact.title:
              regex: "(vp|head"
            """,
            "condition_bad_regex",
            "scoring.yaml:2: regex '(vp|head': missing ')' at position 9",
        ),
        (
            """
            activity:
              type: page_view
              within: -30d
            """,
            "condition_bad_window",
            "scoring.yaml:3: within: '-30d' is negative; windows look back from now, e.g. 30d",
        ),
        (
            """
            activity:
              within: 3m
            """,
            "condition_bad_window",
            "scoring.yaml:2: within: '3m': months and years have no fixed length; "
            "use days (90d) or weeks (12w)",
        ),
        (
            """
            all:
              - any: []
            """,
            "condition_empty_group",
            "scoring.yaml:2: any: needs at least one condition",
        ),
        (
            """
            contact.title: {gt: 5}
            """,
            "condition_operator_not_allowed",
            "scoring.yaml:1: operator 'gt' does not apply to contact.title (text); "
            "use one of eq, ne, in, contains, starts_with, regex, is_set",
        ),
        (
            """
            activity:
              type: page_view
              withn: 30d
            """,
            "condition_unknown_key",
            "scoring.yaml:3: unknown key 'withn' in activity: (did you mean 'within'?); "
            "use type, where, within, before, after, count",
        ),
        (
            """
            all:
              - contact.title: {eq: vp}
                contact.country: {eq: US}
            """,
            "condition_shape",
            "scoring.yaml:3: one key per condition, found contact.title, contact.country; "
            "combine conditions under all: or any:",
        ),
        (
            """
            contact.country: {eq: US}
            contact.country: {eq: DE}
            """,
            "condition_duplicate_key",
            "scoring.yaml:2: duplicate key 'contact.country'",
        ),
        (
            """
            all:
              - contact.title: {eq: [vp}
            """,
            "condition_syntax",
            "scoring.yaml:2: YAML syntax: did not find expected ',' or ']'",
        ),
        (
            """
            contact.seniority: {eq: vpp}
            """,
            "condition_bad_value",
            "scoring.yaml:1: 'vpp' is not a seniority (one of c_level, vp, director, manager, "
            "individual) (did you mean 'vp'?)",
        ),
        (
            """
            activity:
              where:
                contact.title: {eq: vp}
            """,
            "condition_unknown_field",
            "scoring.yaml:3: unknown field 'contact.title' in activity where: "
            "(use source, properties.<key>, all, any, not)",
        ),
        (
            """
            activity:
              type: Page View
            """,
            "condition_bad_value",
            "scoring.yaml:2: 'Page View' is not an activity type (lowercase letters, digits and _)",
        ),
        (
            """
            activity:
              after: 7d
              before: 30d
            """,
            "condition_bad_window",
            "scoring.yaml:3: after 7d ago and before 30d ago leave no time in between",
        ),
        (
            """
            activity:
              count: {gte: -1}
            """,
            "condition_bad_value",
            "scoring.yaml:2: a count cannot be negative (-1)",
        ),
        (
            """
            account.employee_count: {between: [500, 50]}
            """,
            "condition_bad_value",
            "scoring.yaml:1: between [500, 50]: low is above high",
        ),
        (
            """
            contact.title: {contains: ""}
            """,
            "condition_bad_value",
            "scoring.yaml:1: empty text would match every value",
        ),
        (
            """
            contact.properties.plan: {eq: null}
            """,
            "condition_wrong_type",
            "scoring.yaml:1: null never equals anything; use is_set: false",
        ),
        (
            """
            contact.properties.a.b: {eq: 1}
            """,
            "condition_unknown_field",
            "scoring.yaml:1: property key 'a.b' may hold only letters, digits, _ and - (one level)",
        ),
        (
            """
            contact.email: {before: 2026-02-30}
            """,
            "condition_operator_not_allowed",
            "scoring.yaml:1: operator 'before' does not apply to contact.email (text); "
            "use one of eq, ne, in, contains, starts_with, regex, is_set",
        ),
        (
            """
            contact.created_at: {before: 2026-02-30}
            """,
            "condition_bad_window",
            "scoring.yaml:1: before: '2026-02-30' is not a date (2026-01-31), a date-time "
            "(2026-01-31T09:00:00Z) or a duration (30d)",
        ),
        (
            """
            - contact.title: {eq: vp}
            """,
            "condition_shape",
            "scoring.yaml:1: expected a condition as a mapping (e.g. {contact.country: "
            "{eq: US}}), got list",
        ),
    ],
)
def test_each_problem_names_file_line_and_code(text, code, message):
    problem = error(text)

    assert (problem.code, str(problem)) == (code, message)


def test_condition_errors_are_config_errors():
    assert isinstance(error("contact.x: {eq: 1}"), ConfigError)


def test_yaml_is_read_with_the_1_2_core_schema():
    # YAML 1.1 would read NO as false (the Norway problem) and the date as a date.
    condition = parse_condition_yaml(
        "all:\n  - contact.country: {in: [NO, yes]}\n  - contact.created_at: {after: 2026-01-31}",
        filename="f.yaml",
    )

    assert isinstance(condition, AllOf)
    first, second = condition.items
    assert isinstance(first, Predicate)
    assert isinstance(second, Predicate)
    assert first.operand == ("NO", "yes")
    assert second.operand == TimePoint(absolute=datetime(2026, 1, 31, tzinfo=UTC))


def test_true_false_and_numbers_keep_their_types_and_quotes_make_text():
    condition = parse_condition_yaml(
        "any:\n  - contact.properties.a: {eq: true}\n  - contact.properties.a: {eq: 10}\n"
        "  - contact.properties.a: {eq: '10'}",
        filename="f.yaml",
    )

    assert isinstance(condition, AnyOf)
    assert [getattr(item, "operand", None) for item in condition.items] == [True, 10.0, "10"]


def test_the_whole_grammar_reads_into_the_ast():
    text = """
    all:
      - account.employee_count: {between: [50, 500]}
      - not: {first_touch.channel: {eq: paid_ads}}
      - activity:
          type: [page_view, page_view, demo_requested]
          where: {properties.path: {starts_with: /pricing}}
          within: 30d
          after: 2026-01-01
          count: {gte: 3}
    """
    condition = parse_condition_yaml(textwrap.dedent(text), filename="f.yaml")

    assert condition == AllOf(
        (
            Predicate(
                Field(Scope.ACCOUNT, "employee_count", Kind.NUMBER), Op.BETWEEN, (50.0, 500.0)
            ),
            Not(
                Predicate(
                    Field(Scope.FIRST_TOUCH, "channel", Kind.TEXT, choices=_channels()),
                    Op.EQ,
                    "paid_ads",
                )
            ),
            EventCondition(
                source=Scope.ACTIVITY,
                types=("page_view", "demo_requested"),
                where=Predicate(
                    Field(Scope.ACTIVITY, "properties", Kind.PROPERTY, key="path"),
                    Op.STARTS_WITH,
                    "/pricing",
                ),
                window=Window(
                    within=timedelta(days=30),
                    after=TimePoint(absolute=datetime(2026, 1, 1, tzinfo=UTC)),
                ),
                count=CountTest(Op.GTE, 3),
            ),
        )
    )


def _channels() -> tuple[str, ...]:
    from leadflow.contacts.inputs import CHANNELS

    return CHANNELS


def test_nodes_remember_where_they_were_written():
    condition = parse_condition_yaml(
        "all:\n  - contact.title: {eq: vp}\n  - activity: {type: page_view}\n", filename="s.yaml"
    )

    assert isinstance(condition, AllOf)
    assert [condition.at, *(item.at for item in condition.items)] == [
        "s.yaml:1",
        "s.yaml:2",
        "s.yaml:3",
    ]


def test_api_data_is_checked_the_same_and_located_by_path():
    with pytest.raises(ConditionError) as caught:
        parse_condition(
            {"any": [{"contact.country": {"eq": "US"}}, {"contact.country": {"eq": 5}}]},
            at="filter",
        )

    assert str(caught.value) == "filter/any/1/contact.country/eq: expected text, got number 5"
    assert caught.value.code == "condition_wrong_type"


def test_api_data_accepts_datetimes_for_time_operands():
    at = datetime(2026, 5, 1, 12, tzinfo=UTC)
    condition = parse_condition({"contact.created_at": {"before": at}})

    assert isinstance(condition, Predicate)
    assert condition.operand == TimePoint(absolute=at)


def test_the_same_condition_from_yaml_and_from_data_is_equal():
    from_yaml = parse_condition_yaml("activity: {type: email_clicked, within: 2w}", filename="x")
    from_data = parse_condition({"activity": {"type": ["email_clicked"], "within": "14d"}})

    assert from_yaml == from_data
