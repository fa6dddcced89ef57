"""Which compiled conditions change with ``now`` (and so cannot be compiled once)."""

from __future__ import annotations

import pytest

from leadflow.rules.compile import depends_on_time
from leadflow.rules.parse import parse_condition


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"score.total": {"gte": 60}}, False),
        (
            {"all": [{"score.fit_grade": {"in": ["A", "B"]}}, {"contact.country": {"eq": "US"}}]},
            False,
        ),
        ({"contact.last_activity_at": {"is_set": True}}, False),
        ({"activity": {"type": "demo_requested"}}, False),
        ({"activity": {"type": "demo_requested", "count": {"gte": 2}}}, False),
        ({"activity": {"type": "demo_requested", "within": "30d"}}, True),
        ({"not": {"contact.last_activity_at": {"within": "7d"}}}, True),
        (
            {"any": [{"score.total": {"gte": 1}}, {"contact.created_at": {"after": "2026-01-01"}}]},
            True,
        ),
    ],
)
def test_time_windows_and_time_tests_make_a_condition_depend_on_now(
    data: dict, expected: bool
) -> None:
    assert depends_on_time(parse_condition(data)) is expected
