"""Reading scoring.yaml: the default model, the model's values, and every error's file:line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import leadflow.scoring
from leadflow.errors import ConfigError
from leadflow.scoring import ScoringModelError, load_model, parse_model
from leadflow.scoring.model import Cap, EngagementRule, FitRule, GroupKind
from tests.scoring.models import GRADES, GROUPS, RULES, model

DEFAULT = Path(leadflow.scoring.__file__).with_name("default_scoring.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(ScoringModelError) as caught:
        parse_model(text, filename="scoring.yaml")
    return [str(p) for p in caught.value.problems]


def only_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_the_default_model_loads_with_fit_engagement_and_penalties():
    default = load_model(DEFAULT)

    kinds = {g.name: g.kind for g in default.groups}
    assert kinds["fit"] is GroupKind.FIT
    assert kinds["engagement"] is GroupKind.ENGAGEMENT
    assert default.group("engagement").half_life == timedelta(days=30)
    assert any(r.points < 0 for r in default.fit_rules)
    assert any(r.points < 0 for r in default.engagement_rules)
    assert len(default.version) == 12


def test_rules_read_into_fit_and_engagement_rules():
    read = model()

    pricing = next(r for r in read.rules if r.name == "pricing")
    assert isinstance(pricing, EngagementRule)
    assert pricing.activity.types == ("pricing_page_view",)
    assert pricing.cap == Cap(per_day=2, total=4)
    assert isinstance(next(r for r in read.rules if r.name == "software"), FitRule)
    assert read.group("penalties").half_life is None
    assert read.group("penalties").min == -20
    assert read.thresholds == (("mql", 40.0), ("hot", 70.0))


def test_the_version_follows_the_content():
    same = model()
    edited = model(rules=RULES.replace("points: 20", "points: 25"))

    assert same.version == model().version
    assert edited.version != same.version


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("industry: {eq", "industri: {eq", "scoring.yaml:8: unknown field 'account.industri'"),
        ("{eq: Software}", "{equals: Software}", "scoring.yaml:8: unknown operator 'equals'"),
        ("{eq: Software}", "{regex: '(?i)soft'}", "scoring.yaml:8: regex '(?i)soft': only"),
        ("    points: 20\n", "", "scoring.yaml:6: rule 'software' has no points:"),
        (
            "    points: 20\n",
            "    points: x\n",
            "scoring.yaml:9: rule 'software': points: expected",
        ),
        ("name: senior", "name: software", "scoring.yaml:10: rule name 'software' is already used"),
        ("    cap: {per_day", "    colour: red\n    cap: {per_day", "scoring.yaml:18: unknown key"),
        ("{type: email_bounced}", "{type: email_bounced, within: 30d}", "scoring.yaml:27: rule"),
        ("{type: email_bounced}", "{where: {source: {eq: x}}}", "scoring.yaml:27: rule 'bounce'"),
        (
            "when: {contact.seniority",
            "activity: {contact.seniority",
            "scoring.yaml:12: rule 'senior'",
        ),
    ],
)
def test_a_bad_rule_is_named_by_file_and_line(old: str, new: str, expected: str):
    assert old in RULES
    found = only_problem(GROUPS + RULES.replace(old, new, 1) + GRADES)

    assert found.startswith(expected), found


def test_an_unknown_group_suggests_the_closest():
    found = only_problem(GROUPS + RULES.replace("group: fit\n", "group: fitt\n", 1) + GRADES)

    assert found == (
        "scoring.yaml:7: rule 'software': unknown group 'fitt' (did you mean 'fit'?); "
        "groups: fit, engagement, penalties"
    )


def test_a_regex_outside_the_subset_is_refused_where_it_is():
    found = only_problem(GROUPS + RULES.replace("{eq: Software}", r"{regex: '\bsoft'}") + GRADES)

    assert found.startswith("scoring.yaml:8: regex '\\\\bsoft': word boundaries")


@pytest.mark.parametrize(
    ("half_life", "message"),
    [
        ("-14d", "scoring.yaml:3: half_life -14d cannot be negative"),
        ("-3", "scoring.yaml:3: half_life -3 cannot be negative"),
        ("0d", "scoring.yaml:3: half_life:"),
        ("6mo", "scoring.yaml:3: half_life:"),
    ],
)
def test_a_bad_half_life_is_refused(half_life: str, message: str):
    found = only_problem(
        GROUPS.replace("half_life: 10d", f"half_life: {half_life}") + RULES + GRADES
    )

    assert found.startswith(message), found


def test_a_broken_group_is_reported_once_not_for_each_of_its_rules():
    found = problems(GROUPS.replace("half_life: 10d", "half_life: -1d") + RULES + GRADES)

    assert found == ["scoring.yaml:3: half_life -1d cannot be negative"]


def test_fit_points_do_not_fade():
    found = only_problem(GROUPS.replace("kind: fit,", "kind: fit, half_life: 7d,") + RULES + GRADES)

    assert found.startswith("scoring.yaml:2: group 'fit': fit points do not fade")


@pytest.mark.parametrize(
    ("grades", "message"),
    [
        ("{A: 30, B: 30, C: 10}", "grades: fit: B needs fewer points than the grade above it"),
        ("{A: 30, C: 10, B: 20}", "grades: fit: list A, B, C in this order"),
        ("{A: 30, B: 20}", "grades: fit needs C:"),
        ("{A: 30, B: 20, C: 10, D: 0}", "unknown key 'D' in grades: fit; use A, B, C"),
    ],
)
def test_grade_bands_must_be_complete_and_in_order(grades: str, message: str):
    found = only_problem(GROUPS + RULES + GRADES.replace("{A: 30, B: 20, C: 10}", grades))

    assert found.startswith(f"scoring.yaml:30: {message}"), found


def test_every_problem_is_reported_not_only_the_first():
    text = GROUPS + RULES.replace("points: 15", "points: 0").replace("points: -15", "") + GRADES

    found = problems(text)

    assert found == [
        "scoring.yaml:13: rule 'senior' is worth 0 points",
        "scoring.yaml:25: rule 'bounce' has no points:",
    ]


def test_yaml_that_does_not_parse_names_its_line():
    with pytest.raises(ConfigError, match=r"^scoring\.yaml:3: YAML syntax"):
        parse_model("groups:\n  fit: {kind: fit\nrules: []\n", filename="scoring.yaml")


def test_an_unknown_top_level_key_is_refused():
    with pytest.raises(ConfigError, match=r"^scoring\.yaml:1: unknown key 'rule' .*did you mean"):
        parse_model("rule: []\n" + GROUPS + RULES + GRADES, filename="scoring.yaml")


def test_a_fit_rule_cannot_test_the_score_itself():
    text = GROUPS + RULES.replace("{account.industry: {eq: Software}}", "{score.total: {gte: 10}}")
    text += GRADES

    with pytest.raises(ScoringModelError, match=r"score\.total is the score itself"):
        parse_model(text)
