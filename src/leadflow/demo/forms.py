"""What people answer on forms: company size and the BANT questions (budget, authority,
need, timing), drawn from who they really are so that qualification has honest inputs."""

from __future__ import annotations

import random
from typing import Any

from leadflow.demo.people import Person

# Which questions each kind of form asks.
FULL_FORMS = frozenset(
    {"demo-request", "contact-us", "free-trial", "partner-referral", "linkedin-lead-gen"}
)
SHORT_FORMS = frozenset({"webinar-registration", "gated-content"})

CHALLENGES = ("lead_scoring", "lead_routing", "nurture", "funnel_reporting", "data_quality")


def answers(rng: random.Random, person: Person, intent: float, form: str) -> dict[str, Any]:
    """The fields a person fills in on ``form``; unasked questions are left out."""
    family = "gated-content" if form.startswith("gated-") else form
    if family not in FULL_FORMS and family not in SHORT_FORMS:
        return {}
    fields: dict[str, Any] = {"company_size": _size_band(person), "role": _authority(person)}
    if family in SHORT_FORMS and rng.random() < 0.5:
        return fields
    fields["timeline"] = _timeline(rng, intent)
    if family in FULL_FORMS:
        fields["budget"] = _budget(rng, person)
        fields["challenge"] = _challenge(rng, intent)
    return fields


def _size_band(person: Person) -> str:
    if person.company is None:
        return "none"
    employees = person.company.employees
    for limit, band in ((10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000")):
        if employees <= limit:
            return band
    return "1000+"


def _authority(person: Person) -> str:
    if person.company is None:
        return "student"
    return {
        "c_level": "decision_maker",
        "vp": "decision_maker",
        "director": "influencer",
        "manager": "influencer",
    }.get(person.seniority, "user")


def _timeline(rng: random.Random, intent: float) -> str:
    # Eager buyers want it this quarter; the curious are "just researching".
    score = intent + rng.gauss(0, 0.12)
    if score > 0.6:
        return "this_quarter"
    if score > 0.4:
        return "next_quarter"
    if score > 0.25:
        return "this_year"
    return "just_researching"


def _budget(rng: random.Random, person: Person) -> str:
    if person.company is None or rng.random() < 0.6 * (1 - person.fit):
        return "none"
    spend = person.company.employees * 60 * rng.lognormvariate(0, 0.6)
    if spend < 10_000:
        return "under_10k"
    return "10k_50k" if spend < 50_000 else "over_50k"


def _challenge(rng: random.Random, intent: float) -> str:
    if rng.random() < 0.5 * (1 - intent):
        return "just_looking"
    return rng.choice(CHALLENGES)
