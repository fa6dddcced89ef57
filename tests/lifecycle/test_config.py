"""Reading lifecycle.yaml: the default parses; each bad input is refused naming its line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from leadflow.lifecycle.config import LifecycleConfigError, parse_lifecycle
from leadflow.lifecycle.engine import MoveNotAllowed, captured_criteria, check_move

DEFAULT = Path(__file__).parents[2] / "src/leadflow/lifecycle/default_lifecycle.yaml"

BASE = """\
stages: [lead, mql, sql]
side_stages: [recycled]
initial: lead
moves:
  lead: [mql]
  mql: [sql, lead, recycled]
  recycled: [lead]
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(LifecycleConfigError) as caught:
        parse_lifecycle(text)
    return [str(p) for p in caught.value.problems]


def test_the_default_file_parses_with_its_stages_rules_and_criteria():
    config = parse_lifecycle(DEFAULT.read_text())

    assert config.stages[:3] == ("subscriber", "lead", "mql")
    assert config.side_stages == ("disqualified", "recycled", "lost")
    assert config.initial == "subscriber"
    assert [c.name for c in config.criteria] == ["budget", "authority", "need", "timing", "icp_fit"]
    back = next(r for r in config.rules if r.name == "cooled_off")
    assert (back.sources, back.target, back.min_stay) == (("mql",), "lead", timedelta(days=14))
    assert config.is_backward("mql", "lead")
    assert not config.is_backward("lead", "mql")


def test_an_unknown_stage_is_refused_with_its_line():
    problems = _problems(BASE.replace("mql: [sql, lead, recycled]", "mql: [sql, lost]"))

    assert problems == ["lifecycle.yaml:6: unknown stage 'lost'; stages: lead, mql, sql, recycled"]


def test_a_rule_for_a_move_that_is_not_allowed_is_refused():
    text = BASE + "rules:\n  - {name: jump, from: [lead], to: sql}\n"

    assert _problems(text) == [
        "lifecycle.yaml:9: rule 'jump': lead -> sql is not an allowed move (see moves:)"
    ]


def test_rules_that_would_flip_a_contact_back_and_forth_are_refused():
    text = BASE + (
        "rules:\n"
        "  - {name: up, from: [lead], to: mql, when: {score.total: {gte: 60}}}\n"
        "  - {name: down, from: [mql], to: lead, when: {score.total: {lt: 40}}}\n"
    )

    (problem,) = _problems(text)
    assert problem.startswith("lifecycle.yaml:10: conflicting rules: lead -> mql (up) -> lead")
    assert "min_stay" in problem
    # With hysteresis in time, the same two rules are accepted.
    fixed = text.replace("{score.total: {lt: 40}}}", "{score.total: {lt: 40}}, min_stay: 7d}")
    assert parse_lifecycle(fixed).rules[1].min_stay == timedelta(days=7)


def test_every_problem_is_reported_at_once():
    text = BASE.replace("initial: lead", "initial: leed") + (
        "rules:\n"
        "  - {name: c, from: [lead], to: mql, when: {score.totl: {gte: 1}}}\n"
        "  - {name: a, from: [lead], to: mql}\n"
        "  - {name: a, from: [lead], to: mql}\n"
        "  - {name: b, from: [lead], to: mql, colour: red}\n"
    )

    problems = _problems(text)

    assert problems[0] == (
        "lifecycle.yaml:3: unknown stage 'leed' (did you mean 'lead'?); "
        "stages: lead, mql, sql, recycled"
    )
    assert problems[1].startswith("lifecycle.yaml:9: unknown field 'score.totl'")
    assert problems[2] == "lifecycle.yaml:11: rule 'a' is defined twice"
    assert problems[3].startswith("lifecycle.yaml:12: unknown key 'colour' in a rule")


def test_capture_must_name_a_criterion_and_a_confidence_in_range():
    text = BASE + (
        "criteria:\n  budget: {values: [low, high]}\n"
        "capture:\n"
        "  budgt: {field: budget}\n"
        "  budget: {field: budget, confidence: 2}\n"
    )

    assert _problems(text) == [
        "lifecycle.yaml:11: unknown criterion 'budgt' (did you mean 'budget'?)",
    ]
    text = text.replace("  budgt: {field: budget}\n", "")
    assert _problems(text) == ["lifecycle.yaml:11: confidence 2: use a number in (0, 1]"]


def test_a_move_by_hand_must_be_allowed():
    config = parse_lifecycle(BASE)

    assert check_move(config, "mql", "lead").backward is True
    assert check_move(config, None, "mql").source == "lead"  # unstaged: the initial stage
    with pytest.raises(
        MoveNotAllowed, match=r"lead -> sql is not an allowed move \(from lead: mql\)"
    ):
        check_move(config, "lead", "sql")
    with pytest.raises(MoveNotAllowed, match="unknown stage 'won'"):
        check_move(config, "lead", "won")


def test_form_answers_fill_criteria_through_the_mapping():
    config = parse_lifecycle(DEFAULT.read_text())

    found = captured_criteria(
        config.captures,
        {"budget": "10k_50k", "timeline": " next_quarter ", "challenge": "", "role": "student"},
    )

    assert found == {
        "budget": ("10k_50k", 0.6),
        "authority": ("none", 0.5),
        "timing": ("this_year", 0.6),
    }


def test_a_rule_on_an_unknown_criterion_is_refused():
    text = BASE + (
        "criteria:\n  need: {}\n"
        "rules:\n"
        "  - {name: up, from: [lead], to: mql, when: {qualification.nede: {is_set: true}}}\n"
    )

    (problem,) = _problems(text)
    assert problem.startswith("lifecycle.yaml:11: rule 'up': unknown criterion 'nede'")
    assert "(did you mean 'need'?)" in problem


def test_one_bad_move_does_not_hide_the_rules_behind_it():
    text = BASE.replace("recycled: [lead]", "recycled: [leed]") + (
        "rules:\n  - {name: up, from: [lead], to: mql}\n"
    )

    assert _problems(text) == [
        "lifecycle.yaml:7: unknown stage 'leed' (did you mean 'lead'?); "
        "stages: lead, mql, sql, recycled"
    ]
