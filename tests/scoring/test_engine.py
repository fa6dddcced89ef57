"""The reference scorer: fit, engagement with decay and caps, group limits, grades, and the
explanation of every point."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadflow.scoring import score_contact
from leadflow.scoring.model import GroupKind
from tests.scoring.models import DAY, GRADES, GROUPS, NOW, RULES, activity, contact, model


def test_fit_adds_the_rules_that_hold_up_to_the_group_max():
    score = score_contact(model(), contact(), NOW)

    assert score.fit == 30  # 20 + 15, capped at the fit group's max
    assert next(g for g in score.groups if g.name == "fit").raw == 35
    assert score.engagement == 0
    assert score.grade == "A4"


def test_a_contact_that_fits_nothing_is_graded_d():
    score = score_contact(model(), contact(industry="Retail", seniority="manager"), NOW)

    assert (score.fit, score.grade, score.contributions) == (0, "D4", ())


def test_engagement_points_fade_with_the_half_life():
    events = (activity(1, "demo_requested", NOW - 10 * DAY, form="demo-request"),)

    score = score_contact(model(), contact(*events), NOW)

    assert score.engagement == pytest.approx(15.0, rel=1e-12)  # 30 after one half-life
    assert score.total == pytest.approx(45.0, rel=1e-12)
    assert score.grade == "A3"
    assert score.thresholds == ("mql",)


def test_the_where_filter_decides_which_activities_count():
    events = (activity(1, "demo_requested", NOW, form="contact-us"),)

    assert score_contact(model(), contact(*events), NOW).engagement == 0


def test_caps_per_day_and_in_total_count_in_recorded_order():
    # Three views on day one (the daily cap of 2 drops the third), three on day two (the
    # total cap of 4 leaves room for two more).
    times = [NOW - 2 * DAY + timedelta(hours=h) for h in (0, 1, 2)]
    times += [NOW - DAY + timedelta(hours=h) for h in (0, 1, 2)]
    events = tuple(activity(i + 1, "pricing_page_view", t) for i, t in enumerate(times))

    score = score_contact(model(), contact(*events), NOW)

    (pricing,) = score.contributions[2:]
    assert pricing.evidence == (1, 2, 4, 5)
    assert pricing.capped == (3, 6)
    assert pricing.occurrences == 4
    assert pricing.raw == 40


def test_the_engagement_group_is_capped_and_penalties_floored():
    demos = tuple(activity(i, "demo_requested", NOW, form="demo-request") for i in (1, 2))
    bounces = tuple(activity(i, "email_bounced", NOW - 300 * DAY) for i in (3, 4))

    score = score_contact(model(), contact(*demos, *bounces), NOW)

    groups = {g.name: (g.raw, g.value) for g in score.groups}
    assert groups["engagement"] == (60, 50)
    assert groups["penalties"] == (-30, -20)  # no decay: a bounce a year ago still counts
    assert score.engagement == 30
    assert score.grade == "A2"


def test_activities_after_now_do_not_count_yet():
    events = (activity(1, "demo_requested", NOW + DAY, form="demo-request"),)

    assert score_contact(model(), contact(*events), NOW).engagement == 0
    assert score_contact(model(), contact(*events), NOW + DAY).engagement == 30


def test_the_explanation_names_rule_points_decay_and_evidence():
    events = (
        activity(7, "pricing_page_view", NOW - 10 * DAY),
        activity(9, "pricing_page_view", NOW - 20 * DAY),
        activity(8, "deal_won", NOW - DAY),
    )

    score = score_contact(model(), contact(*events), NOW)

    software, senior, pricing = score.contributions
    assert (software.rule, software.kind, software.points, software.value) == (
        "software",
        GroupKind.FIT,
        20,
        20,
    )
    assert senior.evidence == ()
    assert (pricing.rule, pricing.group, pricing.points) == ("pricing", "engagement", 10)
    assert pricing.evidence == (7, 9)  # deal_won matches no rule and is ignored
    assert pricing.raw == 20
    assert pricing.value == pytest.approx(5 + 2.5, rel=1e-12)
    assert pricing.decay == pytest.approx(12.5, rel=1e-12)
    assert score.model_version == model().version


def test_a_fit_rule_on_activity_names_its_evidence():
    rules = RULES.replace(
        "when: {contact.seniority: {in: [vp, c_level]}}",
        "when: {activity: {type: webinar_attended, count: {gte: 2}}}",
    )
    events = (activity(3, "webinar_attended", NOW - DAY), activity(2, "webinar_attended", NOW))

    score = score_contact(model(rules=rules), contact(*events), NOW)

    assert score.contributions[1].rule == "senior"
    assert score.contributions[1].evidence == (2, 3)


@pytest.mark.parametrize(
    ("fit", "expected"), [(30, "A"), (29.99, "B"), (20, "B"), (10, "C"), (9, "D"), (-5, "D")]
)
def test_fit_bands(fit: float, expected: str):
    assert model().fit_bands.grade(fit) == expected


@pytest.mark.parametrize(
    ("engagement", "expected"), [(40, "1"), (39, "2"), (20, "2"), (5, "3"), (4.9, "4")]
)
def test_engagement_bands(engagement: float, expected: str):
    assert model().engagement_bands.grade(engagement) == expected


def test_unchanged_models_give_the_same_groups_in_file_order():
    score = score_contact(model(GROUPS, RULES, GRADES), contact(), NOW)

    assert [g.name for g in score.groups] == ["fit", "engagement", "penalties"]
