"""One person's timeline: visits, forms, content, webinars and marketing email.

How much and how late a person engages follows their hidden intent: the eager come back
often and keep coming back until they talk to sales; the merely curious read one thing,
open a newsletter or two, and fade. Events after the window's end are not recorded: they
have not happened yet.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from leadflow.activity.inputs import EventInput
from leadflow.contacts.inputs import AccountInput, ContactInput, TouchInput
from leadflow.demo import catalog
from leadflow.demo.forms import answers
from leadflow.demo.people import Person, draw
from leadflow.demo.sources import Asset, Entry
from leadflow.demo.timing import Webinar, Window, business_time, days, poisson

# Channels whose people joined a list and so receive the marketing nurture series.
_NURTURED = frozenset(
    {
        "web_form",
        "content_download",
        "newsletter",
        "webinar",
        "paid_ads",
        "social",
        "email",
        "import",
    }
)
_NURTURE_STEPS = (
    (1, "Welcome to Pipewell: three ways teams use it"),
    (4, "How fast should you follow up on a lead?"),
    (9, "A scoring model you can explain"),
    (16, "Case study: pipeline doubled in two quarters"),
    (25, "Ready to see it on your own data?"),
)
_PAGES = (
    *((p, t) for p, t, _ in catalog.PAGES),
    catalog.PRICING_PAGE,
    catalog.CAREERS_PAGE,
)
_PAGE_WEIGHTS = tuple(w for _, _, w in catalog.PAGES)  # pricing and careers vary per person


@dataclass(frozen=True)
class Who:
    """The person behind a journey and what is hidden about them."""

    person: Person
    channel: str
    intent: float
    arrival: datetime
    anonymous_id: str | None
    key: str  # prefix of the person's event idempotency keys


class Journey:
    """Collects one person's captures and events, in the order they happen."""

    def __init__(self, who: Who, rng: random.Random, window: Window) -> None:
        self.who = who
        self.person = who.person
        self.intent = who.intent
        self.arrival = who.arrival
        self.rng = rng
        self.window = window
        self.until = window.end  # marketing stops earlier for people who became customers
        self.events: list[EventInput] = []
        self.captures: list[tuple[ContactInput, TouchInput]] = []
        self.bounced_at: datetime | None = None
        self.unsubscribed_at: datetime | None = None
        self._assets: set[str] = set()
        self._registered: set[str] = set()
        self._visits = 0
        pricing = 0.05 + 0.6 * self.intent
        careers = 0.4 if self.person.company is None else 0.03
        self._page_weights = list(accumulate((*_PAGE_WEIGHTS, pricing, careers)))

    # -- recording ---------------------------------------------------------------------------

    def add(
        self,
        type_: str,
        at: datetime,
        source: str,
        *,
        anonymous: bool = False,
        email: str | None = None,
        **properties: Any,
    ) -> bool:
        """Record an event if it lies in the window (anonymous ones: before identification)."""
        if not self.window.start <= at <= self.window.end or (anonymous and at >= self.arrival):
            return False
        self.events.append(
            EventInput(
                type=type_,
                occurred_at=at,
                email=None if anonymous else (email or self.person.email),
                anonymous_id=self.who.anonymous_id if anonymous else None,
                properties={k: v for k, v in properties.items() if v is not None},
                source=source,
                idempotency_key=f"{self.who.key}-{len(self.events)}",
            )
        )
        return True

    def capture(self, entry: Entry, *, email: str | None = None, phone: str | None = None) -> None:
        """A form, list or sales tool hands the person over, with what they did on the way in."""
        first = not self.captures
        anonymous_id = self.who.anonymous_id if first else None
        contact = contact_input(self.person, email=email, phone=phone, anonymous_id=anonymous_id)
        key = f"{self.who.key}-t{len(self.captures)}"
        self.captures.append((contact, replace(entry.touch, idempotency_key=key)))
        self._arrival_events(entry, email)

    def _arrival_events(self, entry: Entry, email: str | None) -> None:
        touch = entry.touch
        at = touch.occurred_at or self.arrival
        if touch.landing_page:
            utm: dict[str, Any] = {
                "referrer": touch.referrer,
                "utm_source": touch.utm_source,
                "utm_medium": touch.utm_medium,
                "utm_campaign": touch.utm_campaign,
            }
            self.add("page_view", at, "web", email=email, url=touch.landing_page, **utm)
        if entry.form:
            at += timedelta(seconds=self.rng.randint(30, 150))
            self.form(at, entry.form, email=email)
        if entry.asset:
            self.download(at + timedelta(seconds=2), entry.asset, email=email)
        if entry.webinar:
            self._registered.add(entry.webinar.slug)
            self.add("webinar_registered", at, "web", email=email, webinar=entry.webinar.slug)
        if entry.demo:
            self.add("demo_requested", at, "web", email=email, form=entry.form)
        if entry.form == "free-trial" and self.rng.random() < 0.6:
            self.add("trial_started", at + timedelta(minutes=2), "app", email=email)

    def form(self, at: datetime, name: str, *, email: str | None = None) -> None:
        fields = answers(self.rng, self.person, self.intent, name)
        self.add("form_submit", at, "web", email=email, form=name, fields=fields or None)

    def download(self, at: datetime, asset: Asset, *, email: str | None = None) -> None:
        slug, kind, title = asset
        self._assets.add(slug)
        self.add("content_download", at, "web", email=email, asset=slug, kind=kind, title=title)

    # -- the website ---------------------------------------------------------------------------

    def visit(
        self, start: datetime, *, anonymous: bool = False, entry: Mapping[str, Any] | None = None
    ) -> datetime:
        """One visit of a few pages; returns when it ended."""
        rng = self.rng
        self._visits += 1
        visit_id = f"{self.who.key}-v{self._visits}"
        # Converters stay about twice as long on the site (X Education: 738 s against 330 s).
        dwell = 40 + 160 * self.intent
        at = start
        for n in range(min(8, 1 + poisson(rng, 0.8 + 2.5 * self.intent))):
            path, title = draw(rng, _PAGES, self._page_weights)
            seconds = min(600, round(rng.expovariate(1 / dwell)) + 5)
            type_ = "pricing_page_view" if path == catalog.PRICING_PAGE[0] else "page_view"
            extra = dict(entry or {}) if n == 0 else {}
            url = f"{catalog.SITE}{path}"
            self.add(
                type_,
                at,
                "web",
                anonymous=anonymous,
                url=url,
                title=title,
                visit=visit_id,
                seconds=seconds,
                **extra,
            )
            at += timedelta(seconds=seconds + rng.randint(2, 20))
        return at

    def anonymous_history(self) -> None:
        """Visits before the person gave their email, under the tracking cookie's id."""
        earliest = max(self.window.start, self.arrival - days(14))
        for _ in range(1 + poisson(self.rng, 0.8 + 2 * self.intent)):
            at = earliest + (self.arrival - earliest) * self.rng.random()
            self.visit(business_time(self.rng, at, self.person.timezone), anonymous=True)

    def browsing(self, peak: datetime | None) -> None:
        """Return visits: ramping up towards ``peak`` (talking to sales), fading otherwise."""
        rng = self.rng
        fade = 2 + 40 * self.intent**2
        for _ in range(poisson(rng, 0.5 + 12 * self.intent**1.5 + (4 if peak else 0))):
            if peak is not None and rng.random() < 0.7:
                at = self.arrival + (peak - self.arrival) * rng.random() ** (1 / 3)
            else:
                at = (peak or self.arrival) + days(rng.expovariate(1 / fade))
            at = business_time(rng, at, self.person.timezone, not_before=self.arrival)
            if at < self.until:
                self._return_visit(at)

    def _return_visit(self, at: datetime) -> None:
        end = self.visit(at)
        left = [a for a in catalog.CONTENT if a[0] not in self._assets]
        if left and self.rng.random() < 0.04 + 0.1 * self.intent:
            asset = self.rng.choice(left)
            self.form(end, f"gated-{asset[0]}")
            self.download(end + timedelta(seconds=2), asset)

    # -- webinars ------------------------------------------------------------------------------

    def webinars(self) -> None:
        """Attend the webinars signed up for on arrival; sign up for later ones now and then."""
        rng = self.rng
        for webinar in self.window.webinars:
            if webinar.slug in self._registered:
                self._attend(webinar)
            elif webinar.at > self.arrival + days(2) and rng.random() < 0.02 + 0.15 * self.intent:
                at = webinar.at - days(rng.uniform(1, 10))
                at = business_time(rng, at, self.person.timezone, not_before=self.arrival)
                if at < min(self.until, webinar.at):
                    self.form(at, "webinar-registration")
                    self.add("webinar_registered", at, "web", webinar=webinar.slug)
                    self._attend(webinar)

    def _attend(self, webinar: Webinar) -> None:
        if webinar.at <= self.until and self.rng.random() < 0.35 + 0.45 * self.intent:
            minutes = round(min(60, 10 + self.rng.expovariate(1 / (15 + 30 * self.intent))))
            at = webinar.at + timedelta(minutes=self.rng.randint(0, 6))
            self.add("webinar_attended", at, "webinar", webinar=webinar.slug, minutes=minutes)

    # -- email ---------------------------------------------------------------------------------

    def email_program(self) -> None:
        """The weekly newsletter and, for people who joined a list, a nurture series."""
        if self.who.channel == "outbound":
            return  # prospected, never opted in to marketing email
        sends = [
            (t, "newsletter", campaign, "This week at Pipewell")
            for t, campaign in self.window.newsletters
            if t > self.arrival + days(1)
        ]
        if self.who.channel in _NURTURED:
            tz = self.person.timezone
            sends += [
                (business_time(self.rng, self.arrival + days(d), tz), "nurture", f"nurture-{n}", s)
                for n, (d, s) in enumerate(_NURTURE_STEPS, start=1)
            ]
        for at, kind, campaign, subject in sorted(sends):
            if at >= self.until or not self.send(at, kind, campaign, subject):
                break

    def can_email(self, at: datetime) -> bool:
        bounced = self.bounced_at is not None and at >= self.bounced_at
        return not bounced and (self.unsubscribed_at is None or at < self.unsubscribed_at)

    def bounce(self, at: datetime, kind: str, campaign: str) -> None:
        """The first email to a dead address bounces, and nothing is sent to it after."""
        source = "sales" if kind == "sales" else "marketing"
        self.add("email_sent", at, source, kind=kind, campaign=campaign)
        self.add("email_bounced", at + timedelta(minutes=1), source, campaign=campaign)
        self.bounced_at = at

    def send(
        self, at: datetime, kind: str, campaign: str, subject: str, *, react: bool = True
    ) -> bool:
        """One email to the person; False once their address has bounced or they opted out."""
        if not self.can_email(at):
            return False
        source = "sales" if kind == "sales" else "marketing"
        self.add("email_sent", at, source, kind=kind, campaign=campaign, subject=subject)
        if react:
            self._react(at, campaign)
        return True

    def opened(self, sent: datetime, campaign: str, chance: float) -> datetime | None:
        """When the person opened the email, if they did (and it has happened yet)."""
        if self.rng.random() >= chance:
            return None
        at = sent + timedelta(hours=self.rng.expovariate(1 / 5))
        if not self.add("email_opened", at, "email", campaign=campaign):
            return None
        return at

    def _react(self, sent: datetime, campaign: str) -> None:
        rng, intent = self.rng, self.intent
        age = (sent - self.arrival).total_seconds() / 86_400
        fade = 0.35 + 0.65 * math.exp(-age / (5 + 60 * intent**2))
        opened = self.opened(sent, campaign, (0.08 + 0.5 * intent) * fade)
        if opened is None:
            return
        if rng.random() < 0.01 + 0.05 * (1 - intent) ** 2:
            self.unsubscribed_at = opened + timedelta(seconds=rng.randint(5, 90))
            self.add("unsubscribe", self.unsubscribed_at, "email", campaign=campaign)
        elif rng.random() < 0.1 + 0.35 * intent:
            clicked = opened + timedelta(seconds=rng.randint(3, 120))
            url = f"{catalog.SITE}{rng.choice(_PAGES)[0]}"
            self.add("email_clicked", clicked, "email", campaign=campaign, url=url)
            if clicked < self.until:
                utm = {"utm_source": "pipewell", "utm_medium": "email", "utm_campaign": campaign}
                self.visit(clicked + timedelta(seconds=1), entry=utm)


def contact_input(
    person: Person,
    *,
    email: str | None = None,
    phone: str | None = None,
    anonymous_id: str | None = None,
) -> ContactInput:
    """What a capture of ``person`` says; the account only when the address is a work one."""
    company = person.company
    account = None
    if company is not None and not person.free_mail:
        account = AccountInput(
            domain=company.domain,
            name=company.name,
            industry=company.industry,
            employee_count=company.employees,
            annual_revenue=company.revenue,
            country=company.country,
        )
    return ContactInput(
        email=email or person.email,
        phone=phone or person.phone,
        anonymous_id=anonymous_id,
        first_name=person.first_name,
        last_name=person.last_name,
        title=person.title,
        company=company.name if company else None,
        country=person.country,
        timezone=person.timezone,
        language=person.language,
        account=account,
    )
