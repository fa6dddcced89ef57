"""The hot path's driver-level values are the ones Core would have bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from leadflow.activity.store import sqlite_time, type_time

_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_aware = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=_offsets
)


@given(_aware)
def test_sqlite_time_is_what_the_column_type_stores(value: datetime):
    assert sqlite_time(value) == type_time(sqlite.dialect())(value)


@given(_aware, _aware)
def test_sqlite_time_sorts_like_the_instants(a: datetime, b: datetime):
    # The guarded UPDATE of last_activity_at compares these texts inside SQLite.
    assert (sqlite_time(a) < sqlite_time(b)) == (a < b)


def test_sqlite_time_keeps_microseconds_on_a_whole_second():
    assert sqlite_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02 03:04:05.000000"


def test_sqlite_time_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="naive"):
        sqlite_time(datetime(2026, 1, 2))
