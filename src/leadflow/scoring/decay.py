"""Points that fade: one engagement rule's running sum for one contact, updated in O(1).

A rule's points at time ``t`` are ``S(t) = S(t0) * 2^(-(t - t0) / half_life)``: the state keeps
the decayed sum at a reference time ``t0`` and applies the decay lazily, when an occurrence is
added or the sum is read, so nothing ever re-reads the contact's history. Caps count the
occurrences that scored, in the order they were recorded, per UTC day of the activity and in
total.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from leadflow.scoring.model import Cap


def decay_factor(elapsed: timedelta, half_life: timedelta | None) -> float:
    """How much of a point is left after ``elapsed``; 1 when the group does not decay."""
    if half_life is None:
        return 1.0
    return float(2.0 ** (-(elapsed / half_life)))


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def to_micros(at: datetime) -> int:
    """Microseconds since the Unix epoch: how stored states keep times, exactly."""
    return (at - EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    return EPOCH + value * _MICRO


def decay_micros(elapsed: int, half_life: int | None) -> float:
    """:func:`decay_factor` on microsecond counts: the same float (``timedelta`` division
    divides the two microsecond counts too)."""
    if half_life is None:
        return 1.0
    return float(2.0 ** (-(elapsed / half_life)))


EPOCH_ORDINAL = EPOCH.date().toordinal()  # utc_day() of a time in the epoch's first day
DAY_MICROS = 86_400_000_000


def utc_day(at: datetime) -> int:
    """The day a per-day cap counts in: the activity's UTC calendar day, as an ordinal."""
    return at.astimezone(UTC).date().toordinal()


_NO_DAYS: Mapping[int, int] = MappingProxyType({})


@dataclass(frozen=True)
class RuleState:
    """One contact's sum for one engagement rule.

    ``value`` is the decayed sum at ``ref`` (the latest occurrence that scored); ``total``
    how many occurrences scored; ``days`` how many scored on each UTC day, kept only when
    the rule has a per-day cap (so its size is the number of days the rule fired, not the
    number of events).
    """

    value: float = 0.0
    ref: datetime | None = None
    total: int = 0
    days: Mapping[int, int] = field(default_factory=lambda: _NO_DAYS)


EMPTY = RuleState()


def apply(
    state: RuleState, at: datetime, points: float, cap: Cap, half_life: timedelta | None
) -> RuleState:
    """Add one matching occurrence dated ``at``; unchanged when a cap is already full."""
    day = utc_day(at)
    if not has_room(state, cap, day):
        return state
    value, ref = _add(state, at, points, half_life)
    days = state.days
    if cap.per_day is not None:
        days = MappingProxyType({**days, day: days.get(day, 0) + 1})
    return RuleState(value=value, ref=ref, total=state.total + 1, days=days)


def has_room(state: RuleState, cap: Cap, day: int) -> bool:
    if cap.total is not None and state.total >= cap.total:
        return False
    return cap.per_day is None or state.days.get(day, 0) < cap.per_day


def _add(
    state: RuleState, at: datetime, points: float, half_life: timedelta | None
) -> tuple[float, datetime]:
    if state.ref is None:
        return points, at
    if at >= state.ref:
        # Move the reference forward: fade what was there, then add the new points whole.
        return state.value * decay_factor(at - state.ref, half_life) + points, at
    # A late event (recorded after newer ones): fade its points to the reference instead.
    return state.value + points * decay_factor(state.ref - at, half_life), state.ref


def read(state: RuleState, at: datetime, half_life: timedelta | None) -> float:
    """The sum as of ``at``, which must not be before the latest occurrence that scored."""
    if state.ref is None:
        return 0.0
    if at < state.ref:
        raise ValueError(f"cannot read a score at {at}, before its latest event ({state.ref})")
    return state.value * decay_factor(at - state.ref, half_life)
