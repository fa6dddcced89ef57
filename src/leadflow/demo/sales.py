"""Who becomes an opportunity and a customer, and the two-way conversation on the way.

The hidden outcome comes from fit and intent together: a perfect-fit company with no
intent rarely buys, an eager visitor from the wrong company rarely qualifies. Sales work
(replies, calls, meetings, a trial) happens around the opportunity; deals close with the
delays seen in real funnels. A deal closing after the window's end is not known yet: the
ground truth records only what has happened by then.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadflow.demo import catalog
from leadflow.demo.journey import Journey
from leadflow.demo.people import Person
from leadflow.demo.timing import business_time, days, lognormal_days

# Log-odds of ever becoming an opportunity, with fit and intent rising it. The bias is set
# so that about 10.5 % of contacts win a deal within the 90-day window, as Olist's MQLs did;
# the win chance of an opportunity is set near Maven's 63 %.
_OPPORTUNITY = (-5.5, 4.0, 2.0, 6.0)  # bias, fit, intent, fit x intent
_WIN = (-1.0, 1.8, 1.2)  # bias, fit, intent


@dataclass(frozen=True)
class Outcome:
    """What will happen to the person in sales, whether or not it has happened by the end."""

    opportunity_at: datetime | None = None
    closed_at: datetime | None = None
    won: bool = False
    amount: float | None = None
    lost_reason: str | None = None


def decide(rng: random.Random, person: Person, intent: float, arrival: datetime) -> Outcome:
    bias, w_fit, w_intent, w_both = _OPPORTUNITY
    fit = person.fit
    if rng.random() >= _sigmoid(bias + w_fit * fit + w_intent * intent + w_both * fit * intent):
        return Outcome()
    # The eager book a meeting within days; the hesitant take weeks.
    tz = person.timezone
    opportunity_at = business_time(
        rng, arrival + lognormal_days(rng, 2 + 20 * (1 - intent), 0.6), tz, not_before=arrival
    )
    won = rng.random() < _sigmoid(_WIN[0] + _WIN[1] * fit + _WIN[2] * intent)
    # Maven: wins take longer to close than losses (median 57 against 14 days engage to close;
    # shorter here because a SaaS deal is smaller than a hardware one).
    cycle = lognormal_days(rng, 18 if won else 10, 0.7)
    closed_at = business_time(rng, opportunity_at + cycle, tz, not_before=opportunity_at)
    amount = round(annual_contract_value(person) * rng.lognormvariate(0, 0.35), -2)
    reasons = [r for r, _ in catalog.LOST_REASONS]
    reason = None if won else rng.choices(reasons, [w for _, w in catalog.LOST_REASONS])[0]
    return Outcome(opportunity_at, closed_at, won, amount, reason)


def annual_contract_value(person: Person) -> float:
    employees = person.company.employees if person.company else 1
    return next(value for limit, value in catalog.ACV_BY_SIZE if employees <= limit)


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def work(journey: Journey, outcome: Outcome, *, demo_requested: bool) -> None:
    """The sales side of a journey: a deal for opportunities, follow-ups for the rest."""
    j = journey
    if outcome.opportunity_at is not None:
        _first_conversation(j, outcome.opportunity_at, demo_requested=demo_requested)
        _opportunity(j, outcome)
    elif j.who.channel == "outbound":
        _cadence(j, j.arrival, steps=(0, 3, 7, 12), reply_chance=0.02 + 0.15 * j.intent)
    elif demo_requested or (j.person.fit > 0.55 and j.intent > 0.3 and j.rng.random() < 0.6):
        start = j.arrival + (timedelta(hours=2) if demo_requested else days(j.rng.expovariate(0.5)))
        _cadence(j, start, steps=(0, 2, 5), reply_chance=0.08 + 0.3 * j.intent, call=True)


def _sales_email(j: Journey, at: datetime, sequence: str, step: int) -> bool:
    subject = f"{catalog.COMPANY} for {j.person.company.name if j.person.company else 'you'}"
    if not j.send(at, "sales", sequence, subject if step == 1 else f"Re: {subject}", react=False):
        return False
    j.opened(at, sequence, 0.35 + 0.3 * j.intent)
    return True


def _reply(j: Journey, at: datetime, sequence: str, sentiment: str) -> None:
    j.add("email_replied", at, "email", campaign=sequence, sentiment=sentiment)


def _call(j: Journey, at: datetime, connected: float) -> None:
    if j.person.phone is None:
        return
    if j.rng.random() < connected:
        outcome, seconds = "connected", round(60 + j.rng.expovariate(1 / 420))
    else:
        outcome, seconds = j.rng.choice(("no_answer", "voicemail")), 0
    j.add("call", at, "sales", outcome=outcome, seconds=seconds)


def _cadence(
    j: Journey, start: datetime, *, steps: tuple[int, ...], reply_chance: float, call: bool = False
) -> None:
    """Sales emails a few days apart until the person answers, or the steps run out."""
    sequence = "outbound-prospecting" if j.who.channel == "outbound" else "inbound-follow-up"
    tz = j.person.timezone
    for step, offset in enumerate(steps, start=1):
        at = start if offset == 0 else business_time(j.rng, start + days(offset), tz)
        if at >= j.until or not _sales_email(j, at, sequence, step):
            return
        if call and step == 2:
            _call(j, business_time(j.rng, at + days(1), tz, not_before=at), connected=0.25)
        if j.rng.random() < reply_chance:
            sentiment = j.rng.choice(("not_now", "not_interested", "send_info"))
            _reply(j, at + timedelta(hours=j.rng.expovariate(1 / 8)), sequence, sentiment)
            return


def _first_conversation(j: Journey, opportunity_at: datetime, *, demo_requested: bool) -> None:
    """How the conversation starts: a demo request answered, or a cold email answered."""
    rng, tz = j.rng, j.person.timezone
    if j.who.channel == "outbound":
        answered = business_time(rng, opportunity_at - days(rng.uniform(1, 5)), tz)
        answered = max(answered, j.arrival + timedelta(hours=1))
        step, at = 1, j.arrival
        while at < answered and _sales_email(j, at, "outbound-prospecting", step):
            step += 1
            at = business_time(rng, at + days(3), tz)
        if j.can_email(j.arrival):
            _reply(j, answered, "outbound-prospecting", "positive")
        else:
            _call(j, answered, connected=1.0)  # the address was dead; the phone was not
        return
    asked = j.arrival
    if not demo_requested:
        asked = business_time(
            rng, opportunity_at - days(rng.uniform(1, 7)), tz, not_before=j.arrival
        )
        j.form(asked, "demo-request")
        j.add("demo_requested", asked, "web", form="demo-request")
    answered = asked + timedelta(hours=rng.expovariate(1 / 3))
    if _sales_email(j, answered, "demo-request-follow-up", 1) and rng.random() < 0.8:
        _reply(
            j,
            answered + timedelta(hours=rng.expovariate(1 / 6)),
            "demo-request-follow-up",
            "positive",
        )
    _call(j, business_time(rng, answered + days(1), tz, not_before=answered), connected=0.7)


def _opportunity(j: Journey, outcome: Outcome) -> None:
    """Discovery, demo, maybe a trial, a few more conversations, then the deal closes."""
    assert outcome.opportunity_at is not None
    assert outcome.closed_at is not None
    rng, tz = j.rng, j.person.timezone
    opened, closed = outcome.opportunity_at, outcome.closed_at
    j.add("meeting", opened, "sales", kind="discovery", minutes=30)
    demo = business_time(rng, opened + days(rng.uniform(2, 8)), tz, not_before=opened)
    if demo < closed:
        j.add("meeting", demo, "sales", kind="demo", minutes=45)
        if rng.random() < 0.4:
            j.add("trial_started", demo + days(1), "app")
    demo = min(demo, closed)
    for _ in range(rng.randint(1, 4)):
        at = business_time(rng, demo + (closed - demo) * rng.random(), tz, not_before=demo)
        if at >= closed:
            continue
        if rng.random() < 0.5:
            if _sales_email(j, at, "deal-follow-up", 2) and rng.random() < 0.6:
                _reply(
                    j, at + timedelta(hours=rng.expovariate(1 / 6)), "deal-follow-up", "positive"
                )
        else:
            _call(j, at, connected=0.6)
    _close(j, outcome)


def _close(j: Journey, outcome: Outcome) -> None:
    assert outcome.closed_at is not None
    deal: dict[str, Any] = {"amount": outcome.amount, "currency": "USD"}
    if outcome.won:
        j.add("deal_won", outcome.closed_at, "crm", plan=_plan(outcome.amount), **deal)
    else:
        j.add("deal_lost", outcome.closed_at, "crm", reason=outcome.lost_reason, **deal)


def _plan(amount: float | None) -> str:
    if amount is None or amount < 8_000:
        return "starter"
    return "growth" if amount < 40_000 else "enterprise"
