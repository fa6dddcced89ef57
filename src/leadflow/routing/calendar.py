"""Business hours: when a person works, and how much of their working time lies between instants.

The model
---------
A :class:`WorkingHours` is a week of local wall-clock intervals (Monday first; each day zero or
more half-open ``[start, end)`` intervals, sorted and not overlapping, ``24:00`` allowed as an
end), an IANA timezone, and a set of holiday dates on which nothing counts. Business time is
*real elapsed time* inside those intervals: an interval is turned into two UTC instants on each
local date, and the time between them counts. Everything here is pure: no clock, no storage.
Every datetime returned is timezone-aware UTC; naive inputs are refused (their zone is unknown).

Config format (what :func:`parse_hours` reads, e.g. from YAML)::

    hours = parse_hours(
        {"mon-thu": ["09:00-12:00", "13:00-17:00"], "fri": "09:00-15:00", "sat": "closed"},
        timezone="Europe/Berlin",
        holidays=["2026-12-24", *national_holidays("DE", range(2026, 2029))],
    )

Keys name days: ``mon`` .. ``sun`` (or full names, any case), ranges ``mon-fri`` (wrapping:
``sun-thu``), and comma lists ``mon,wed``; a day may appear under one key only. Values are an
interval ``"09:00-17:00"``, several separated by commas, a list of them, or ``"closed"`` / ``[]``.
Days not named have no hours. Holidays are ``date`` objects or ``YYYY-MM-DD`` strings; national
ones come from the ``holidays`` package for the years asked (a long-running process should ask
for enough years ahead). Errors are :class:`HoursError` (a ``ValueError``) whose ``key`` names
the config key at fault, so a caller can point at the file and line.

Daylight saving
---------------
Interval bounds are wall-clock times, read on each date with that date's offset, so a 09:00-17:00
day is 8 real hours unless a change falls inside it (then 7 or 9). Two cases need a rule:

* An ambiguous time (fall-back: 02:30 happens twice) is its *first* occurrence (``fold=0``).
  ``01:00-03:00`` on the US fall-back day is 3 real hours.
* A nonexistent time (spring-forward gap: 02:30 never shows on the clock) is the instant the
  clock jumps, i.e. the end of the gap. ``02:00-03:00`` on that day is empty and
  ``01:00-04:00`` is 2 real hours.

Both rules keep wall time to UTC non-decreasing, so no interval ever has a negative length.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DAYS",
    "HoursError",
    "Interval",
    "WorkingHours",
    "add_business_time",
    "business_time_between",
    "is_working",
    "national_holidays",
    "next_working_start",
    "parse_hours",
]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MINUTES_PER_DAY = 24 * 60
_INTERVAL = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
_Span = tuple[datetime, datetime]


class HoursError(ValueError):
    """Working hours that cannot be used; ``key`` is the config key at fault (None: the whole)."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, order=True)
class Interval:
    """Local wall-clock ``[start, end)`` on one day, in minutes after midnight (end <= 1440)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < _MINUTES_PER_DAY or not 0 < self.end <= _MINUTES_PER_DAY:
            raise ValueError(f"{self} is outside 00:00-24:00")
        if self.end <= self.start:
            raise ValueError(f"{self} does not end after it starts")

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


@dataclass(frozen=True)
class WorkingHours:
    """A person's working week (``week[0]`` is Monday) in ``timezone``, minus ``holidays``."""

    week: tuple[tuple[Interval, ...], ...]
    timezone: str
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if len(self.week) != len(DAYS):
            raise HoursError(f"a week has 7 days, got {len(self.week)}")
        for name, intervals in zip(DAYS, self.week, strict=True):
            _check_day(intervals, name)
        if not any(self.week):
            raise HoursError("no working time in the week: a deadline could never be reached")
        _zone(self.timezone)
        for day in self.holidays:
            if isinstance(day, datetime) or not isinstance(day, date):
                raise HoursError(f"holiday {day!r} is not a date", key="holidays")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances: cheap after the first

    def with_holidays(self, dates: Iterable[date]) -> WorkingHours:
        """The same hours with ``dates`` added to the holidays."""
        return replace(self, holidays=self.holidays | frozenset(dates))


# --- Parsing ----------------------------------------------------------------------------------


def parse_hours(
    week: Mapping[str, object], timezone: str, holidays: Iterable[date | str] = ()
) -> WorkingHours:
    """Working hours from config data; see the module docstring for the format."""
    if not isinstance(week, Mapping):
        raise HoursError(f"expected a mapping of days to hours, got {week!r}")
    days: list[tuple[Interval, ...]] = [()] * len(DAYS)
    seen: dict[int, str] = {}
    for key, value in week.items():
        if not isinstance(key, str):
            raise HoursError(f"{key!r} is not a day name", key=str(key))
        intervals = _parse_intervals(value, key)
        for day in _parse_days(key):
            if day in seen:
                raise HoursError(f"{DAYS[day]} is given twice ({seen[day]!r}, {key!r})", key=key)
            seen[day] = key
            days[day] = intervals
    if not isinstance(timezone, str):
        raise HoursError(f"timezone {timezone!r} is not a name", key="timezone")
    return WorkingHours(tuple(days), timezone, _parse_holidays(holidays))


def national_holidays(
    country: str, years: Iterable[int], subdivision: str | None = None
) -> frozenset[date]:
    """Public holidays of ``country`` (ISO 3166 code, e.g. ``US``) and optional ``subdivision``
    (e.g. ``BY`` for Bavaria) in ``years``, from the ``holidays`` package (observed days too)."""
    import holidays as holidays_package  # large; only callers that want national days pay

    try:
        found = holidays_package.country_holidays(country, subdiv=subdivision, years=list(years))
    except NotImplementedError as exc:  # what the package raises for unknown codes
        raise HoursError(str(exc), key="country") from exc
    return frozenset(found.keys())


def _parse_days(key: str) -> list[int]:
    days: list[int] = []
    for part in key.split(","):
        first, dash, last = part.partition("-")
        start = _day_index(first, key)
        if not dash:
            days.append(start)
            continue
        span = (_day_index(last, key) - start) % len(DAYS)  # wraps, so sun-thu works
        days.extend((start + i) % len(DAYS) for i in range(span + 1))
    return days


def _day_index(name: str, key: str) -> int:
    word = name.strip().lower()
    for names in (DAYS, _FULL_DAYS):
        if word in names:
            return names.index(word)
    raise HoursError(f"{key!r}: unknown day {name.strip()!r}; use mon .. sun", key=key)


def _parse_intervals(value: object, key: str) -> tuple[Interval, ...]:
    if isinstance(value, str):
        pieces = [] if value.strip().lower() == "closed" else value.split(",")
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        pieces = list(value)
    else:
        raise HoursError(
            f'{key!r}: expected intervals such as "09:00-17:00", got {value!r}', key=key
        )
    intervals = tuple(sorted(_parse_interval(piece, key) for piece in pieces))
    _check_day(intervals, key)
    return intervals


def _parse_interval(text: str, key: str) -> Interval:
    match = _INTERVAL.fullmatch(text)
    if not match:
        raise HoursError(f'{key!r}: {text!r} is not an interval such as "09:00-17:00"', key=key)
    hour1, min1, hour2, min2 = (int(g) for g in match.groups())
    if min1 > 59 or min2 > 59 or hour1 > 23 or hour2 > 24 or (hour2 == 24 and min2 > 0):
        raise HoursError(f"{key!r}: {text!r} is not a time of day (00:00 to 24:00)", key=key)
    try:
        return Interval(hour1 * 60 + min1, hour2 * 60 + min2)
    except ValueError as exc:
        raise HoursError(f"{key!r}: interval {text.strip()!r}: {exc}", key=key) from exc


def _check_day(intervals: tuple[Interval, ...], key: str) -> None:
    for earlier, later in pairwise(intervals):
        if later.start < earlier.start:
            raise HoursError(f"{key!r}: intervals {earlier} and {later} are not in order", key=key)
        if later.start < earlier.end:
            raise HoursError(f"{key!r}: intervals {earlier} and {later} overlap", key=key)


def _parse_holidays(values: Iterable[date | str]) -> frozenset[date]:
    return frozenset(_parse_holiday(value) for value in values)


def _parse_holiday(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise HoursError(f"holiday {value!r} is not a date (YYYY-MM-DD)", key="holidays")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:  # ValueError: e.g. "../x"
        raise HoursError(f"unknown timezone {name!r}", key="timezone") from exc


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- Counting ---------------------------------------------------------------------------------


def add_business_time(start: datetime, duration: timedelta, hours: WorkingHours) -> datetime:
    """The instant (UTC) at which ``duration`` of business time has passed since ``start``.

    Counting begins at ``start`` if it is working time, else at the next interval's start; a
    zero duration gives that first working instant. Deadlines may fall on an interval's end.
    """
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")
    spans = _spans_from(_aware(start, "start"), hours)
    remaining = duration
    while True:
        span_start, span_end = next(spans)
        if remaining <= span_end - span_start:
            return span_start + remaining
        remaining -= span_end - span_start


def add_business_days(start: datetime, days: int, hours: WorkingHours) -> datetime:
    """The close of business on the ``days``-th working day after ``start``'s local day:
    "within 2 business days" from Friday afternoon is Tuesday at closing time. (Durations
    in days are not 24 working hours each: 2 days would be six working days.)"""
    start = _aware(start, "start")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    zone = hours.zone
    day = start.astimezone(zone).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if _day_spans(day, hours, zone):
            counted += 1
    return _day_spans(day, hours, zone)[-1][1]


def business_time_between(start: datetime, end: datetime, hours: WorkingHours) -> timedelta:
    """Business time in ``[start, end]``; zero when ``end`` is not after ``start``."""
    until = _aware(end, "end")
    spans = _spans_from(_aware(start, "start"), hours)
    total = timedelta(0)
    while True:
        span_start, span_end = next(spans)
        if span_start >= until:
            return total
        total += min(span_end, until) - span_start


def next_working_start(at: datetime, hours: WorkingHours) -> datetime:
    """``at`` (in UTC) if it is working time, else the start of the next working interval."""
    return next(_spans_from(_aware(at, "at"), hours))[0]


def is_working(at: datetime, hours: WorkingHours) -> bool:
    """Whether ``at`` lies inside a working interval (start included, end excluded)."""
    instant = _aware(at, "at")
    return next(_spans_from(instant, hours))[0] == instant


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def _spans_from(at: datetime, hours: WorkingHours) -> Iterator[_Span]:
    """Working spans (UTC, non-empty, in order) that end after ``at``, the first cut at ``at``.

    Endless, but always yields: the week has working time and holidays are finitely many.
    """
    zone = hours.zone
    # Earlier dates' spans end by this date's first midnight, which is not after ``at``.
    day = at.astimezone(zone).date()
    while True:
        for span_start, span_end in _day_spans(day, hours, zone):
            if span_end > at:
                yield max(span_start, at), span_end
        day += timedelta(days=1)


def _day_spans(day: date, hours: WorkingHours, zone: ZoneInfo) -> list[_Span]:
    if day in hours.holidays:
        return []
    spans = [
        (_wall_to_utc(day, interval.start, zone), _wall_to_utc(day, interval.end, zone))
        for interval in hours.week[day.weekday()]
    ]
    return [(start, end) for start, end in spans if end > start]  # empty in a DST gap


def _wall_to_utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The instant the wall clock in ``zone`` shows ``minute`` on ``day`` (see DST rules above)."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)  # 24:00 is the next midnight
    instant = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the first of a repeated time
    shown = instant.astimezone(zone).replace(tzinfo=None)
    if shown == wall:
        return instant
    return _jump_instant(instant, shown - wall, zone)


def _jump_instant(after: datetime, gap: timedelta, zone: ZoneInfo) -> datetime:
    """The first instant with the new offset, for a wall time ``gap`` wide skipped over.

    ``after`` is the wall time read with the old offset, which lands past the jump by less than
    the gap; ``after - gap`` is before it. zoneinfo does not expose transitions, so bisect on
    whole seconds (transitions fall on whole seconds): a dozen steps for an hour's gap.
    """
    new_offset = after.astimezone(zone).utcoffset()
    low, high = int((after - gap).timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == new_offset:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)
