"""The hot path's driver-level values."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from leadflow.activity.store import type_time

_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_aware = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=_offsets
)


@given(_aware, _aware)
def test_sqlite_times_sort_like_the_instants(a: datetime, b: datetime):
    # max(occurred_at) for a contact's last activity compares these texts inside SQLite.
    to_text = type_time(sqlite.dialect())
    assert (to_text(a) < to_text(b)) == (a < b)
