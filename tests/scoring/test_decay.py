"""The O(1) decayed sums: halving per half-life, late events, caps, reading."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadflow.scoring.decay import EMPTY, apply, decay_factor, read
from leadflow.scoring.model import Cap
from tests.scoring.models import DAY, NOW

HALF = timedelta(days=14)
NO_CAP = Cap()


def test_a_point_halves_every_half_life():
    assert decay_factor(timedelta(0), HALF) == 1.0
    assert decay_factor(HALF, HALF) == 0.5
    assert decay_factor(3 * HALF, HALF) == 0.125
    assert decay_factor(timedelta(days=7), HALF) == pytest.approx(2**-0.5, rel=1e-15)


def test_without_a_half_life_points_never_fade():
    assert decay_factor(timedelta(days=3650), None) == 1.0


def test_reading_applies_the_decay_since_the_reference():
    state = apply(EMPTY, NOW, 10, NO_CAP, HALF)

    assert read(state, NOW, HALF) == 10
    assert read(state, NOW + HALF, HALF) == 5
    assert read(state, NOW + 2 * HALF, HALF) == 2.5


def test_a_later_event_fades_what_was_there_and_adds_its_points_whole():
    state = apply(apply(EMPTY, NOW, 10, NO_CAP, HALF), NOW + HALF, 4, NO_CAP, HALF)

    assert state.ref == NOW + HALF
    assert state.value == pytest.approx(9.0, rel=1e-12)
    assert read(state, NOW + 2 * HALF, HALF) == pytest.approx(4.5, rel=1e-12)


def test_a_late_event_is_faded_to_the_reference_which_stays():
    state = apply(apply(EMPTY, NOW + HALF, 4, NO_CAP, HALF), NOW, 10, NO_CAP, HALF)

    assert state.ref == NOW + HALF
    assert state.value == pytest.approx(9.0, rel=1e-12)


def test_the_total_cap_stops_counting():
    state = EMPTY
    for day in range(5):
        state = apply(state, NOW + day * DAY, 10, Cap(total=3), None)

    assert state.total == 3
    assert read(state, NOW + 10 * DAY, None) == 30


def test_the_daily_cap_resets_each_utc_day():
    state = EMPTY
    for hours in (1, 2, 3, 25, 26):  # three on the first day, two on the next
        state = apply(state, NOW + timedelta(hours=hours), 1, Cap(per_day=2), None)

    assert state.total == 4
    first = NOW.date().toordinal()
    assert dict(state.days) == {first: 2, first + 1: 2}


def test_a_late_event_counts_against_its_own_day():
    cap = Cap(per_day=1)
    state = apply(apply(EMPTY, NOW + DAY, 1, cap, None), NOW, 1, cap, None)
    again = apply(state, NOW + timedelta(minutes=5), 1, cap, None)

    assert state.total == 2
    assert again is state


def test_reading_before_the_latest_event_is_refused():
    state = apply(EMPTY, NOW, 10, NO_CAP, HALF)

    with pytest.raises(ValueError, match="before its latest event"):
        read(state, NOW - DAY, HALF)


def test_an_empty_state_reads_zero():
    assert read(EMPTY, NOW, HALF) == 0.0
