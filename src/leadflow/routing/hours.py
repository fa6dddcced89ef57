"""Users' working hours and holidays as the SLA clock reads them, read once per user and
year, and the deadline of an SLA counted in them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from leadflow.errors import ConfigError
from leadflow.routing.calendar import (
    HoursError,
    WorkingHours,
    add_business_days,
    add_business_time,
    national_holidays,
    parse_hours,
)
from leadflow.routing.config import User
from leadflow.rules import Node

DEFAULT_HOURS: Mapping[str, object] = {"mon-fri": "09:00-17:00"}
# Working hours by what the file says (zone, hours, holidays) and year.
_HOURS: dict[tuple[str, str, int], WorkingHours] = {}
# The same, by the user object of a parsed (cached, immutable) config: no key to build.
_HOURS_OF: dict[int, tuple[User, int, WorkingHours]] = {}


def hours_of(user: User, now: datetime) -> WorkingHours:
    """A user's working hours with their holidays for this year and the next two."""
    known = _HOURS_OF.get(id(user))
    if known is not None and known[0] is user and known[1] == now.year:
        return known[2]
    hours = _hours_of(user, now)
    _HOURS_OF[id(user)] = (user, now.year, hours)
    return hours


def _hours_of(user: User, now: datetime) -> WorkingHours:
    written = (user.hours, user.holidays)
    key = (user.timezone, repr([_plain(n) if n is not None else None for n in written]), now.year)
    if key not in _HOURS:
        try:
            holidays = _holidays(user, now.year)
        except HoursError as exc:
            where = user.holidays.at if user.holidays is not None else user.at
            raise ConfigError(f"{where}: user {user.id!r}: holidays: {exc}") from None
        try:
            week = _plain(user.hours) if user.hours is not None else DEFAULT_HOURS
            if not isinstance(week, Mapping):
                raise HoursError(f"expected a mapping of days to hours, got {week!r}")
            _HOURS[key] = parse_hours(week, user.timezone, holidays)
        except HoursError as exc:
            where = user.hours.at if user.hours is not None else user.at
            raise ConfigError(f"{where}: user {user.id!r}: {exc}") from None
    return _HOURS[key]


def _holidays(user: User, year: int) -> list[date | str]:
    if user.holidays is None:
        return []
    data = _plain(user.holidays)
    if isinstance(data, list):
        return [str(d) for d in data]
    if not isinstance(data, Mapping):
        raise HoursError("expected {country: XX, subdivision: YY, dates: [...]} or a list of dates")
    unknown = sorted(set(data) - {"country", "subdivision", "dates"})
    if unknown:
        raise HoursError(f"unknown key {unknown[0]!r}; use country, subdivision, dates")
    dates = data.get("dates", [])
    if not isinstance(dates, list):
        raise HoursError(f"dates: expected a list of dates, got {dates!r}")
    found: list[date | str] = [str(d) for d in dates]
    if data.get("country"):
        years = range(year, year + 3)
        subdivision = data.get("subdivision")
        found += national_holidays(
            str(data["country"]), years, str(subdivision) if subdivision else None
        )
    return found


def business_deadline(start: datetime, sla: timedelta, hours: WorkingHours) -> datetime:
    """When an SLA ends in the owner's business time: whole days count working days (to
    the close of the last one), hours and minutes count working time."""
    if sla.days and not sla.seconds and not sla.microseconds:
        return add_business_days(start, sla.days, hours)
    return add_business_time(start, sla, hours)


def _plain(node: Node) -> Any:
    """A located node as plain data (calendar reads plain mappings, lists and strings)."""
    if node.kind == "mapping":
        return {entry.key: _plain(entry.value) for entry in node.entries}
    if node.kind == "list":
        return [_plain(item) for item in node.items]
    return node.value
