"""When things happen: business days and hours in each person's time zone, and the company's
calendar (weekly newsletter, fortnightly webinars) over the demo's window."""

from __future__ import annotations

import math
import random
import re
from bisect import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import accumulate
from zoneinfo import ZoneInfo

from leadflow.demo import catalog

DAY = timedelta(days=1)
DayWeights = tuple[list[date], list[float]]
_MAX_WEEKDAY_WEIGHT = max(catalog.WEEKDAY_WEIGHT)


@dataclass(frozen=True)
class Webinar:
    slug: str
    title: str
    at: datetime


@dataclass(frozen=True)
class Window:
    """The demo's period and the company's calendar in it."""

    start: datetime
    end: datetime
    newsletters: tuple[tuple[datetime, str], ...]  # send time, campaign
    webinars: tuple[Webinar, ...]

    @classmethod
    def ending(cls, end: datetime, days: int) -> Window:
        start = end - days * DAY
        return cls(start, end, _newsletters(start, end), _webinars(start, end))

    def days(self) -> list[date]:
        first = self.start.date()
        return [first + n * DAY for n in range((self.end.date() - first).days + 1)]


def _newsletters(start: datetime, end: datetime) -> tuple[tuple[datetime, str], ...]:
    # Every Tuesday at 14:00 UTC: morning in the Americas, afternoon in Europe.
    first = start.date() + ((1 - start.weekday()) % 7) * DAY
    weeks = (end - start).days // 7 + 2
    sends = (datetime.combine(first + 7 * n * DAY, time(14), UTC) for n in range(weeks))
    return tuple((t, f"newsletter-{t:%Y-%m-%d}") for t in sends if start < t <= end)


def _webinars(start: datetime, end: datetime) -> tuple[Webinar, ...]:
    # Every other Thursday at 16:00 UTC, including the next two after the window, which
    # people in the window have already registered for.
    first = start.date() + 3 * DAY + ((3 - (start + 3 * DAY).weekday()) % 7) * DAY
    webinars = []
    for n in range((end - start).days // 14 + 4):
        at = datetime.combine(first + 14 * n * DAY, time(16), UTC)
        if at > end + 28 * DAY:
            break
        title = catalog.WEBINAR_TOPICS[n % len(catalog.WEBINAR_TOPICS)]
        slug = f"webinar-{at:%Y-%m-%d}-{_slug(title)}"
        webinars.append(Webinar(slug, title, at))
    return tuple(webinars)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_moment(rng: random.Random, day: date, tz: str) -> datetime:
    """A moment of ``day`` in zone ``tz``, mostly in working hours, as UTC to the second."""
    hour = rng.uniform(0.0, 24.0)
    if rng.random() < 0.85:
        hour = rng.gauss(12.5, 2.8)
        while not 7.0 <= hour <= 20.5:
            hour = rng.gauss(12.5, 2.8)
    return _midnight(day, tz) + timedelta(seconds=round(hour * 3600))


@lru_cache(maxsize=8192)
def _midnight(day: date, tz: str) -> datetime:
    # Hours are added to local midnight in UTC: on the two days a year the clocks change,
    # the afternoon shifts by an hour, which synthetic data can afford for the speed.
    return datetime.combine(day, time(), zone(tz)).astimezone(UTC)


def business_time(
    rng: random.Random, around: datetime, tz: str, *, not_before: datetime | None = None
) -> datetime:
    """A realistic moment near ``around``: quiet days push activity to the next busy one.

    The moment keeps ``around``'s local date unless that day is less busy than a Monday,
    in which case it may move on (weekends mostly to Monday), then takes a working-hours
    time of day. It is never before ``not_before``.
    """
    day = around.astimezone(zone(tz)).date()
    for _ in range(3):
        if rng.random() < catalog.WEEKDAY_WEIGHT[day.weekday()] / _MAX_WEEKDAY_WEIGHT:
            break
        day += DAY
    moment = local_moment(rng, day, tz)
    if not_before is not None and moment < not_before:
        moment = not_before + timedelta(minutes=rng.randint(2, 90))
    return moment


def arrival_time(rng: random.Random, window: Window, tz: str, weights: DayWeights) -> datetime:
    """When a person first shows up: weekdays weighted as in Olist's sign-ups."""
    days, cumulative = weights
    for _ in range(20):
        moment = local_moment(rng, days[bisect(cumulative, rng.random() * cumulative[-1])], tz)
        if window.start <= moment <= window.end:
            return moment
    return window.start + (window.end - window.start) * rng.random()


def day_weights(window: Window) -> DayWeights:
    """The window's days and their cumulative weekday weights, for :func:`arrival_time`."""
    days = window.days()
    return days, list(accumulate(catalog.WEEKDAY_WEIGHT[d.weekday()] for d in days))


def days(value: float) -> timedelta:
    return timedelta(days=value)


def lognormal_days(rng: random.Random, median: float, sigma: float) -> timedelta:
    """A duration whose median is ``median`` days, skewed to the right like real cycles."""
    return days(rng.lognormvariate(math.log(median), sigma))


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method: the means here are small)."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k
