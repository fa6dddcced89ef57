"""Durations (``30d``) and instants (``2026-01-01``, ``90d`` ago) as conditions write them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from leadflow.rules.ast import TimePoint

_DURATION = re.compile(r"([0-9]+)\s*(s|min|h|d|w)")
_UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_SIGNED = re.compile(r"-\s*[0-9]+\s*[a-z]*")
_DURATION_LIKE = re.compile(r"-?\s*[0-9]+\s*[a-z]+")
_AMBIGUOUS = re.compile(r"[0-9]+\s*(m|mo|month|months|y|year|years)")


class TimeSyntaxError(ValueError):
    """Not a duration or an instant; the message says what is expected."""


def parse_duration(value: object) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``90min``, ``45s``: a positive whole number and a unit."""
    if not isinstance(value, str):
        raise TimeSyntaxError(f"expected a duration such as 30d, got {value!r}")
    text = value.strip()
    if _SIGNED.fullmatch(text):
        raise TimeSyntaxError(f"{value!r} is negative; windows look back from now, e.g. 30d")
    if _AMBIGUOUS.fullmatch(text):
        raise TimeSyntaxError(
            f"{value!r}: months and years have no fixed length; use days (90d) or weeks (12w)"
        )
    match = _DURATION.fullmatch(text)
    if not match:
        raise TimeSyntaxError(f"{value!r} is not a duration; write e.g. 30d, 12h, 2w or 90min")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds == 0:
        raise TimeSyntaxError(f"{value!r} is an empty window; give a positive duration")
    if seconds > 36500 * 86400:
        raise TimeSyntaxError(f"{value!r} is longer than 100 years")
    return timedelta(seconds=seconds)


def parse_time_point(value: object) -> TimePoint:
    """An ISO date or date-time (naive means UTC), or a duration meaning that long ago."""
    if isinstance(value, datetime):
        return TimePoint(absolute=_utc(value))
    if isinstance(value, date):
        return TimePoint(absolute=datetime(value.year, value.month, value.day, tzinfo=UTC))
    if not isinstance(value, str):
        raise TimeSyntaxError(f"expected a date, a date-time or a duration, got {value!r}")
    if _DURATION_LIKE.fullmatch(value.strip()):
        return TimePoint(ago=parse_duration(value))
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise TimeSyntaxError(
            f"{value!r} is not a date (2026-01-31), a date-time (2026-01-31T09:00:00Z) "
            "or a duration (30d)"
        ) from None
    return TimePoint(absolute=_utc(parsed))


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
