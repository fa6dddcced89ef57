"""Reading routing.yaml: a full example, and every problem located at its line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from textwrap import dedent

import pytest

from leadflow.errors import LocatedConfigError
from leadflow.routing.config import (
    Escalation,
    Role,
    RoutingConfigError,
    RoutingProblem,
    Strategy,
    load_config,
    parse_config,
)
from leadflow.rules import parse_condition

VALID = dedent(
    """\
    users:
      - id: ana
        name: Ana Ruiz
        email: ana@example.com
        role: sales
        team: emea
        capacity: 3
        daily_quota: 20
        timezone: Europe/Madrid
        hours: {mon-fri: "09:00-17:00"}
        holidays: {country: ES}
        territories: [ES, Portugal]
        industries: [Software]
        active: true
      - id: bob
        name: Bob Stone
        email: bob@example.com
        role: sales
        team: emea
        timezone: Europe/London
      - id: cy
        name: Cy Park
        email: cy@example.com
        role: sales
        team: amer
        timezone: America/New_York
      - id: dee
        name: Dee Lane
        email: dee@example.com
        role: marketing
    teams:
      - id: emea
        lead: bob
        escalation: notify_lead
      - id: amer
        lead: cy
        escalation: reassign
    rules:
      - name: enterprise_emea
        when: {account.employee_count: {gte: 1000}}
        team: emea
        strategy: territory
      - name: everyone_else
        team: amer
        strategy: round_robin
    sla:
      first_touch: 4h
      follow_up: 2d
      recycle_after: 14d
    """
)


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    """The line of the ``occurrence``-th line holding ``fragment`` (1-based, like YAML's)."""
    lines = [n for n, line in enumerate(text.splitlines(), 1) if fragment in line]
    assert len(lines) >= occurrence, (fragment, lines)
    return lines[occurrence - 1]


def edit(old: str, new: str, text: str = VALID) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def problems(text: str) -> list[LocatedConfigError]:
    with pytest.raises(RoutingConfigError) as caught:
        parse_config(text)
    return list(caught.value.problems)


def only_problem(text: str) -> LocatedConfigError:
    found = problems(text)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


# -- a valid file ---------------------------------------------------------------------------


def test_the_full_example_parses_into_frozen_values():
    config = parse_config(VALID)

    ana = config.user("ana")
    assert ana is not None
    assert (ana.role, ana.team, ana.capacity, ana.daily_quota) == (Role.SALES, "emea", 3, 20)
    assert (ana.timezone, ana.territories, ana.industries) == (
        "Europe/Madrid",
        ("ES", "PT"),
        ("Software",),
    )
    assert ana.hours is not None
    assert ana.hours.at == f"routing.yaml:{line_of(VALID, 'hours:')}"
    assert [u.id for u in config.users] == ["ana", "bob", "cy", "dee"]
    assert [(t.id, t.lead, t.escalation) for t in config.teams] == [
        ("emea", "bob", Escalation.NOTIFY_LEAD),
        ("amer", "cy", Escalation.REASSIGN),
    ]
    first, second = config.rules
    assert (first.name, first.team, first.strategy) == (
        "enterprise_emea",
        "emea",
        Strategy.TERRITORY,
    )
    assert first.condition == parse_condition({"account.employee_count": {"gte": 1000}})
    assert (second.condition, second.strategy) == (None, Strategy.ROUND_ROBIN)
    assert config.sla.first_touch == timedelta(hours=4)
    assert config.sla.follow_up == timedelta(days=2)
    assert config.sla.recycle_after == timedelta(days=14)


def test_defaults_for_the_optional_keys():
    config = parse_config(VALID)
    bob, dee = config.user("bob"), config.user("dee")

    assert bob is not None
    assert dee is not None
    assert (bob.capacity, bob.daily_quota, bob.active, bob.territories) == (1, None, True, ())
    assert (dee.capacity, dee.team, dee.timezone, dee.assignable) == (0, None, "UTC", False)


def test_the_version_is_a_short_hash_of_the_text():
    config = parse_config(VALID)

    assert len(config.version) == 12
    assert parse_config(VALID).version == config.version
    assert parse_config(VALID + "# a comment\n").version != config.version


def test_a_file_loads_from_disk_with_its_own_name(tmp_path: Path):
    path = tmp_path / "routing.yaml"
    path.write_text(edit("capacity: 3", "capacity: 0"), encoding="utf-8")

    with pytest.raises(RoutingConfigError) as caught:
        load_config(path)

    assert caught.value.problems[0].where == f"routing.yaml:{line_of(VALID, 'capacity: 3')}"


# -- each problem, at its line --------------------------------------------------------------


def assert_problem(text: str, problem: RoutingProblem, line: int, words: str) -> None:
    found = only_problem(text)
    assert found.code == problem.value
    assert str(found).startswith(f"routing.yaml:{line}: ")
    assert words in str(found)


def test_a_duplicate_user_id_names_the_first():
    text = edit("  - id: dee\n", "  - id: ana\n")

    assert_problem(
        text,
        RoutingProblem.DUPLICATE_ID,
        line_of(text, "- id: ana", 2),
        "user id 'ana' is already used at routing.yaml:2",
    )


def test_a_duplicate_team_id():
    text = edit("  - id: amer\n    lead: cy\n", "  - id: emea\n    lead: cy\n")
    text = edit("team: amer\n    timezone", "team: emea\n    timezone", text)
    text = edit("team: amer\n    strategy", "team: emea\n    strategy", text)

    assert_problem(
        text, RoutingProblem.DUPLICATE_ID, line_of(text, "- id: emea", 2), "team id 'emea'"
    )


def test_a_duplicate_rule_name():
    text = edit("name: everyone_else", "name: enterprise_emea")

    assert_problem(
        text, RoutingProblem.DUPLICATE_ID, line_of(text, "name: enterprise_emea", 2), "rule name"
    )


def test_an_assignment_rule_pointing_at_a_missing_team():
    text = edit("team: amer\n    strategy", "team: amre\n    strategy")

    found = only_problem(text)

    assert found.code == RoutingProblem.UNKNOWN_TEAM.value
    assert str(found) == (
        f"routing.yaml:{line_of(text, 'team: amre')}: rule 'everyone_else': an assignment rule "
        "pointing at a missing team 'amre' (did you mean 'amer'?)"
    )


def test_a_team_lead_who_is_not_a_user():
    text = edit("lead: bob", "lead: bobby")

    assert_problem(
        text,
        RoutingProblem.UNKNOWN_USER,
        line_of(text, "lead: bobby"),
        "lead 'bobby' is not a user",
    )


def test_a_team_lead_who_is_inactive():
    text = edit(
        "    team: emea\n    timezone: Europe/London\n",
        "    team: emea\n    timezone: Europe/London\n    active: false\n",
    )

    assert_problem(
        text, RoutingProblem.UNKNOWN_USER, line_of(text, "- id: emea"), "lead 'bob' is inactive"
    )


def test_a_user_in_a_missing_team():
    text = edit("team: amer\n    timezone", "team: apac\n    timezone")

    found = problems(text)

    # cy was amer's only rep, so amer is empty too; both are reported, in line order.
    assert [p.code for p in found] == ["routing_unknown_team", "routing_empty_team"]
    assert str(found[0]).startswith(
        f"routing.yaml:{line_of(text, 'team: apac')}: user 'cy' is in a missing team"
    )


@pytest.mark.parametrize("capacity", ["0", "-2"])
def test_a_sales_user_needs_a_capacity_above_zero(capacity: str):
    text = edit("capacity: 3", f"capacity: {capacity}")

    assert_problem(
        text,
        RoutingProblem.BAD_CAPACITY,
        line_of(text, "capacity:"),
        f"capacity {capacity} must be 1 or more",
    )


def test_a_capacity_is_a_whole_number():
    text = edit("capacity: 3", "capacity: 1.5")

    assert_problem(
        text, RoutingProblem.SHAPE, line_of(text, "capacity:"), "expected a whole number"
    )


def test_a_daily_quota_below_one_is_refused():
    text = edit("daily_quota: 20", "daily_quota: 0")

    assert_problem(
        text,
        RoutingProblem.BAD_QUOTA,
        line_of(text, "daily_quota:"),
        "daily_quota 0 must be 1 or more",
    )


def test_an_unknown_role_suggests_the_closest():
    text = edit("role: marketing", "role: marketting")

    assert_problem(
        text,
        RoutingProblem.UNKNOWN_ROLE,
        line_of(text, "role: marketting"),
        "(did you mean 'marketing'?)",
    )


def test_an_unknown_strategy_suggests_the_closest():
    text = edit("strategy: round_robin", "strategy: round-robin")

    assert_problem(
        text,
        RoutingProblem.UNKNOWN_STRATEGY,
        line_of(text, "strategy: round-robin"),
        "unknown strategy 'round-robin' (did you mean 'round_robin'?)",
    )


def test_an_unknown_key_suggests_the_closest():
    text = edit("daily_quota: 20", "daily_qouta: 20")

    assert_problem(
        text,
        RoutingProblem.UNKNOWN_KEY,
        line_of(text, "daily_qouta"),
        "(did you mean 'daily_quota'?)",
    )


def test_a_team_with_no_active_sales_user():
    text = edit(
        "    team: amer\n    timezone: America/New_York\n",
        "    team: amer\n    timezone: America/New_York\n    active: false\n",
    )
    text = edit("lead: cy", "lead: bob", text)

    assert_problem(
        text,
        RoutingProblem.EMPTY_TEAM,
        line_of(text, "- id: amer"),
        "team 'amer' has no active sales user",
    )


@pytest.mark.parametrize(
    ("written", "words"),
    [("4 hours", "is not a duration"), ("30m", "write minutes as min"), ("-2d", "negative")],
)
def test_a_bad_duration(written: str, words: str):
    text = edit("first_touch: 4h", f"first_touch: {written}")

    assert_problem(text, RoutingProblem.BAD_DURATION, line_of(text, "first_touch:"), words)


def test_minutes_are_written_min():
    config = parse_config(edit("first_touch: 4h", "first_touch: 30min"))

    assert config.sla.first_touch == timedelta(minutes=30)


def test_two_rules_without_when_conflict():
    text = edit("    when: {account.employee_count: {gte: 1000}}\n", "")

    assert_problem(
        text,
        RoutingProblem.CONFLICTING_RULES,
        line_of(text, "name: everyone_else"),
        "conflicting rules: rule 'everyone_else' can never match; rule 'enterprise_emea' at "
        f"routing.yaml:{line_of(text, 'name: enterprise_emea')} has no when:",
    )


def test_a_rule_after_an_unconditional_one_can_never_match():
    text = VALID.replace(
        "sla:\n",
        "  - name: big_accounts\n"
        "    when: {account.employee_count: {gte: 5000}}\n"
        "    team: amer\n"
        "sla:\n",
    )

    assert_problem(
        text,
        RoutingProblem.CONFLICTING_RULES,
        line_of(text, "name: big_accounts"),
        "rule 'big_accounts' can never match",
    )


def test_a_rule_repeating_the_condition_of_an_earlier_one_can_never_match():
    text = VALID.replace(
        "  - name: everyone_else\n",
        "  - name: also_enterprise\n"
        "    when: {account.employee_count: {gte: 1000.0}}\n"
        "    team: amer\n"
        "  - name: everyone_else\n",
    )

    assert_problem(
        text,
        RoutingProblem.CONFLICTING_RULES,
        line_of(text, "name: also_enterprise"),
        "has the same when:",
    )


def test_a_territory_rule_needs_reps_with_territories():
    text = edit("    territories: [ES, Portugal]\n", "")

    assert_problem(
        text,
        RoutingProblem.NOTHING_TO_MATCH,
        line_of(text, "name: enterprise_emea"),
        "no active sales user of team 'emea' lists territories",
    )


def test_a_condition_problem_is_located_inside_when():
    text = edit("{account.employee_count: {gte: 1000}}", "{account.employees: {gte: 1000}}")

    found = only_problem(text)

    assert found.code == "condition_unknown_field"
    assert found.where == f"routing.yaml:{line_of(text, 'account.employees')}"


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("timezone: Europe/Madrid", "timezone: Europe/Madird", "is not an IANA zone"),
        (
            "territories: [ES, Portugal]",
            "territories: [ES, Atlantis]",
            "'Atlantis' is not a country",
        ),
        ("email: ana@example.com", "email: ana.example.com", "is not an email address"),
        ("  - id: ana", "  - id: Ana", "use lowercase letters"),
    ],
)
def test_bad_values(old: str, new: str, words: str):
    text = edit(old, new)

    assert_problem(text, RoutingProblem.BAD_VALUE, line_of(text, new.strip()), words)


def test_sales_users_need_a_team():
    text = edit(
        "    team: amer\n    timezone: America/New_York\n", "    timezone: America/New_York\n"
    )

    found = problems(text)

    assert [p.code for p in found] == ["routing_missing", "routing_empty_team"]
    assert str(found[0]) == (
        f"routing.yaml:{line_of(text, '- id: cy')}: user 'cy' is a sales user and needs a team:"
    )


def test_sales_users_need_a_timezone():
    text = edit("    timezone: America/New_York\n", "")

    assert_problem(text, RoutingProblem.MISSING, line_of(text, "- id: cy"), "needs a timezone:")


def test_sales_only_settings_are_refused_on_other_roles():
    text = edit("    role: marketing\n", "    role: marketing\n    capacity: 2\n")

    assert_problem(
        text,
        RoutingProblem.UNKNOWN_KEY,
        line_of(text, "capacity: 2"),
        "applies to sales users only",
    )


def test_every_problem_is_reported_at_once_in_line_order():
    text = edit("capacity: 3", "capacity: 0")
    text = edit("lead: bob", "lead: nobody", text)
    text = edit("follow_up: 2d", "follow_up: two days", text)

    found = problems(text)

    assert [p.code for p in found] == [
        "routing_bad_capacity",
        "routing_unknown_user",
        "routing_bad_duration",
    ]
    assert [p.where for p in found] == [
        f"routing.yaml:{line_of(text, n)}" for n in ("capacity: 0", "lead: nobody", "follow_up:")
    ]


def test_a_yaml_syntax_error_is_one_located_problem():
    found = only_problem("users: [\n")

    assert found.code == "condition_syntax"
    assert found.where.startswith("routing.yaml:")


def test_the_top_level_needs_users_teams_and_rules():
    found = only_problem("users: []\nteams: []\n")

    assert str(found) == "routing.yaml:1: the routing file needs rules:"


def test_an_empty_list_of_users_is_refused():
    text = "users: []\nteams: []\nrules: []\n"

    assert [str(p) for p in problems(text)] == [
        "routing.yaml:1: users: must be a list, not empty",
        "routing.yaml:2: teams: must be a list, not empty",
        "routing.yaml:3: rules: must be a list, not empty",
    ]
