"""Small scoring files for the tests, built from parts so each test shows what it changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from leadflow.rules import Snapshot
from leadflow.scoring import ScoringModel, parse_model

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)

GROUPS = """\
groups:
  fit: {kind: fit, max: 30}
  engagement: {kind: engagement, half_life: 10d, max: 50}
  penalties: {kind: engagement, half_life: none, min: -20}
"""
RULES = """\
rules:
  - name: software
    group: fit
    when: {account.industry: {eq: Software}}
    points: 20
  - name: senior
    group: fit
    when: {contact.seniority: {in: [vp, c_level]}}
    points: 15
  - name: pricing
    group: engagement
    activity: {type: pricing_page_view}
    points: 10
    cap: {per_day: 2, total: 4}
  - name: demo
    group: engagement
    activity:
      type: demo_requested
      where: {properties.form: {eq: demo-request}}
    points: 30
  - name: bounce
    group: penalties
    activity: {type: email_bounced}
    points: -15
"""
GRADES = """\
grades:
  fit: {A: 30, B: 20, C: 10}
  engagement: {1: 40, 2: 20, 3: 5}
thresholds: {mql: 40, hot: 70}
"""


def model(groups: str = GROUPS, rules: str = RULES, grades: str = GRADES) -> ScoringModel:
    return parse_model(groups + rules + grades, filename="scoring.yaml")


def activity(id_: int, type_: str, at: datetime, **props: Any) -> dict[str, Any]:
    return {"id": id_, "type": type_, "occurred_at": at, "source": None, "properties": props}


def contact(*events: dict[str, Any], industry: str = "Software", seniority: str = "vp") -> Snapshot:
    return Snapshot(
        contact={"id": 1, "seniority": seniority, "email": "ann@acme.example", "properties": {}},
        now=NOW,
        account={"industry": industry, "properties": {}},
        activities=events,
    )


def random_model_text(half_life: str, per_day: str, total: str, points: float, top: int) -> str:
    """A scoring file for property tests: one fit rule, engagement rules that overlap (a page
    view feeds two), a filtered rule, a penalty with its own half-life; caps as given."""
    cap = ", ".join(part for part in (per_day, total) if part)
    return f"""\
groups:
  fit: {{kind: fit}}
  engagement: {{kind: engagement, half_life: {half_life}, max: {top}}}
  penalties: {{kind: engagement, half_life: 3d, min: -25}}
rules:
  - {{name: software, group: fit, when: {{account.industry: {{eq: Software}}}}, points: 20}}
  - name: pricing
    group: engagement
    activity: {{type: [pricing_page_view, page_view], where: {{properties.path: {{ne: /jobs}}}}}}
    points: {points}
    {"cap: {" + cap + "}" if cap else ""}
  - name: views
    group: engagement
    activity: {{type: page_view}}
    points: 0.5
    cap: {{per_day: 2}}
  - name: demo
    group: engagement
    activity: {{type: demo_requested, where: {{properties.path: {{eq: /demo}}}}}}
    points: 30
  - {{name: bounce, group: penalties, activity: {{type: email_bounced}}, points: -15}}
{GRADES}"""
