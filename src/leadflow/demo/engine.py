"""The demo generator: a B2B SaaS company's last days of leads, deterministic for a seed.

Pure: no storage, no clock, no global random state. Everything is drawn from one
``random.Random(seed)`` (Faker instances are seeded from it), so the same seed and end time
give the same data, byte for byte.

Each person gets a hidden fit (who they are) and intent (how much they want to buy); their
activity and their outcome follow from both, and the outcome is kept as ground truth. Some
people come back through a second form with their address typed differently (one contact),
and a few come back under another address (a near-duplicate contact for the duplicates
finder to find).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from leadflow.activity.inputs import EventInput
from leadflow.clock import ensure_utc
from leadflow.contacts.inputs import ContactInput, TouchInput
from leadflow.demo import catalog, sales, sources
from leadflow.demo.journey import Journey, Who
from leadflow.demo.people import PeopleFactory, Person, Weighted, ascii_fold
from leadflow.demo.timing import (
    DayWeights,
    Window,
    arrival_time,
    business_time,
    day_weights,
    days,
)
from leadflow.errors import ValidationError

DEFAULT_CONTACTS = 5_000
DEFAULT_DAYS = 90
DEFAULT_SEED = 42
# Everything is generated in memory first: about 60 KB per contact with its events.
MAX_CONTACTS = 100_000
MAX_DAYS = 3_650

_ACCOUNTS_PER_CONTACT = 0.35
_ANONYMOUS_SHARE = 0.4  # of people arriving through the website
_RETURN_SHARE = 0.08  # people captured a second time, address typed differently
_NEAR_DUPLICATE_SHARE = 0.02  # contacts that repeat a person under another address
_BOUNCE_SHARE = {"outbound": 0.08, "import": 0.08}  # bought and scanned lists age badly
_DEFAULT_BOUNCE_SHARE = 0.035  # X Education: 3.5 % of leads end on a bounced email
_CHANNEL = Weighted(catalog.CHANNEL_MIX)


@dataclass(frozen=True)
class Capture:
    """One arrival of a person: what the form or list said, and through which channel."""

    record: int
    contact: ContactInput
    touch: TouchInput


@dataclass(frozen=True)
class Truth:
    """What is known about a contact record that leadflow is not told."""

    record: int
    email: str  # the address of the first capture
    fit: float
    intent: float
    channel: str  # first-touch channel
    arrived_at: datetime
    opportunity_at: datetime | None
    converted_at: datetime | None  # deal won in the window
    lost_at: datetime | None  # deal lost in the window
    amount: float | None  # of the deal closed in the window
    duplicate_of: int | None = None  # record of the person this one repeats

    @property
    def converted(self) -> bool:
        return self.converted_at is not None

    @property
    def lost(self) -> bool:
        return self.lost_at is not None


@dataclass(frozen=True)
class DemoData:
    seed: int
    start: datetime
    end: datetime
    captures: tuple[Capture, ...]  # in time order
    events: tuple[EventInput, ...]  # in time order
    truth: tuple[Truth, ...]  # by record


@dataclass
class _Story:
    who: Who
    journey: Journey
    outcome: sales.Outcome
    duplicate_of: int | None = None


@dataclass(frozen=True)
class _World:
    rng: random.Random
    seed: int
    factory: PeopleFactory
    ctx: sources.Context
    day_weights: DayWeights


def generate(
    *,
    end: datetime,
    contacts: int = DEFAULT_CONTACTS,
    days: int = DEFAULT_DAYS,
    seed: int = DEFAULT_SEED,
) -> DemoData:
    """``contacts`` contact records arriving over the ``days`` days before ``end``."""
    if not 1 <= contacts <= MAX_CONTACTS:
        raise ValidationError(f"must be between 1 and {MAX_CONTACTS:,}", field="contacts")
    if not 1 <= days <= MAX_DAYS:
        raise ValidationError(f"must be between 1 and {MAX_DAYS:,}", field="days")
    world = _world(seed, Window.ending(ensure_utc(end).replace(microsecond=0), days), contacts)
    duplicates = round(contacts * _NEAR_DUPLICATE_SHARE)
    stories = [_story(world, record) for record in range(contacts - duplicates)]
    stories += _near_duplicates(world, stories, duplicates)
    return _assemble(world, stories)


def _world(seed: int, window: Window, contacts: int) -> _World:
    rng = random.Random(seed)
    factory = PeopleFactory(rng, accounts=round(contacts * _ACCOUNTS_PER_CONTACT))
    partners = tuple(_slug(factory.faker("US").company()) for _ in range(4))
    customers = tuple(c.domain for c in factory.companies[:30])
    ctx = sources.Context(window=window, partners=partners, customer_domains=customers)
    return _World(rng, seed, factory, ctx, day_weights(window))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", ascii_fold(text)).strip("-")


def _story(world: _World, record: int) -> _Story:
    rng, window = world.rng, world.ctx.window
    channel = _CHANNEL.draw(rng)
    person = world.factory.person(record, channel)
    intent = round(rng.betavariate(*catalog.CHANNEL_INTENT[channel]), 4)
    arrival = arrival_time(rng, window, person.timezone, world.day_weights)
    web = channel in catalog.WEB_CHANNELS and rng.random() < _ANONYMOUS_SHARE
    who = Who(
        person=person,
        channel=channel,
        intent=intent,
        arrival=arrival,
        anonymous_id=f"anon-{rng.getrandbits(64):016x}" if web else None,
        key=f"demo-{world.seed}-{record}",
    )
    outcome = sales.decide(rng, person, intent, arrival)
    journey = _live(world, who, outcome)
    return _Story(who, journey, outcome)


def _live(world: _World, who: Who, outcome: sales.Outcome) -> Journey:
    """Play one person's days: arrival, email, sales, return visits, webinars."""
    rng = world.rng
    journey = Journey(who, rng, world.ctx.window)
    entry = sources.entry(rng, who.channel, who.arrival, who.intent, world.ctx)
    if who.anonymous_id is not None:
        journey.anonymous_history()
    journey.capture(entry)
    if outcome.won and outcome.closed_at is not None:
        journey.until = min(journey.until, outcome.closed_at)  # customers leave the nurture
    if rng.random() < _BOUNCE_SHARE.get(who.channel, _DEFAULT_BOUNCE_SHARE):
        _bounce(journey)
    journey.email_program()
    sales.work(journey, outcome, demo_requested=entry.demo)
    _maybe_return(world, journey)
    journey.browsing(outcome.opportunity_at)
    journey.webinars()
    return journey


def _bounce(journey: Journey) -> None:
    # The first email a person gets is the prospector's, or the form's confirmation.
    if journey.who.channel == "outbound":
        journey.bounce(journey.arrival, "sales", "outbound-prospecting")
    else:
        journey.bounce(journey.arrival + timedelta(minutes=3), "nurture", "welcome")


def _maybe_return(world: _World, journey: Journey) -> None:
    """Some people fill in another form later, typing their address differently."""
    rng, who = world.rng, journey.who
    left = (journey.until - who.arrival).total_seconds() / 86_400
    if left < 3 or rng.random() >= _RETURN_SHARE:
        return
    tz = who.person.timezone
    at = business_time(rng, who.arrival + days(rng.uniform(2, left)), tz)
    if not who.arrival + days(1) <= at < journey.until:
        return
    channel = rng.choice(("content_download", "webinar", "web_form"))
    entry = sources.entry(rng, channel, at, who.intent, world.ctx)
    added = who.person.phone or world.factory.phone(who.person.country)
    phone = added if rng.random() < 0.5 else who.person.phone
    journey.capture(entry, email=_recased(who.person.email), phone=phone)


def _recased(email: str) -> str:
    """``jane.doe@acme.com`` as people retype it: ``Jane.Doe@Acme.com``."""
    local, _, domain = email.partition("@")
    title = ".".join(part.capitalize() for part in local.split("."))
    if title == local:
        title = local.upper()
    return f"{title}@{domain.capitalize()}"


def _near_duplicates(world: _World, stories: list[_Story], count: int) -> list[_Story]:
    """People who come back under another address: a second contact for the same person."""
    end = world.ctx.window.end
    candidates = [
        s for s in stories if s.who.person.company is not None and s.who.arrival < end - days(2)
    ]
    chosen = world.rng.sample(candidates, min(count, len(candidates)))
    first = len(stories)
    extra = [_twin(world, first + n, original) for n, original in enumerate(chosen)]
    # Too few candidates (a tiny demo): make up the number with ordinary people.
    extra += [_story(world, first + n) for n in range(len(chosen), count)]
    return extra


def _twin(world: _World, record: int, original: _Story) -> _Story:
    rng, window = world.rng, world.ctx.window
    person: Person = world.factory.near_duplicate(record, original.who.person)
    earliest = original.who.arrival + days(1)
    at = business_time(rng, earliest + (window.end - earliest) * rng.random(), person.timezone)
    who = Who(
        person=person,
        channel=rng.choice(("content_download", "webinar", "newsletter", "social")),
        intent=round(original.who.intent * 0.5, 4),
        arrival=min(at, window.end),
        anonymous_id=None,
        key=f"demo-{world.seed}-{record}",
    )
    story = _Story(who, _live(world, who, sales.Outcome()), sales.Outcome())
    story.duplicate_of = original.who.person.record
    return story


def _assemble(world: _World, stories: list[_Story]) -> DemoData:
    window = world.ctx.window
    captures = [
        Capture(s.who.person.record, contact, touch)
        for s in stories
        for contact, touch in s.journey.captures
    ]
    captures.sort(key=lambda c: (_at(c.touch.occurred_at), c.record))
    events = [e for s in stories for e in s.journey.events]
    events.sort(key=lambda e: _at(e.occurred_at))
    return DemoData(
        seed=world.seed,
        start=window.start,
        end=window.end,
        captures=tuple(captures),
        events=tuple(events),
        truth=tuple(_truth(s, window.end) for s in stories),
    )


def _at(moment: datetime | None) -> datetime:
    assert moment is not None, "the generator times every capture and event"
    return moment


def _truth(story: _Story, end: datetime) -> Truth:
    outcome, who = story.outcome, story.who
    closed = outcome.closed_at is not None and outcome.closed_at <= end
    opened = outcome.opportunity_at is not None and outcome.opportunity_at <= end
    return Truth(
        record=who.person.record,
        email=who.person.email,
        fit=who.person.fit,
        intent=who.intent,
        channel=who.channel,
        arrived_at=who.arrival,
        opportunity_at=outcome.opportunity_at if opened else None,
        converted_at=outcome.closed_at if closed and outcome.won else None,
        lost_at=outcome.closed_at if closed and not outcome.won else None,
        amount=outcome.amount if closed else None,
        duplicate_of=story.duplicate_of,
    )
