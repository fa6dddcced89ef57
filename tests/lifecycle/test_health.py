"""The pure health rules: NPS classes, feedback ratings, support tickets, the latest answer
superseding older ones, the windows, the thresholds, and the reasons given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest

from leadflow.lifecycle.health import Health, assess, status_for

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_ids = count(1)


def row(kind: str, days_ago: float, **properties: Any) -> dict[str, Any]:
    """An activity row, ``days_ago`` before NOW, with the next id."""
    at = NOW - timedelta(days=days_ago)
    return {"id": next(_ids), "type": kind, "occurred_at": at, "properties": properties}


def nps(score: Any, days_ago: float = 1) -> dict[str, Any]:
    return row("nps_submitted", days_ago, score=score)


def feedback(rating: Any, days_ago: float = 1) -> dict[str, Any]:
    return row("feedback_submitted", days_ago, rating=rating)


def ticket(priority: str, days_ago: float = 1) -> dict[str, Any]:
    return row("support_ticket", days_ago, priority=priority)


@pytest.mark.parametrize(
    ("score", "status", "points"),
    [
        (10, "good", 100.0),
        (9, "good", 100.0),
        (8, "watch", 50.0),
        (7, "watch", 50.0),
        (6, "at_risk", 0.0),
        (0, "at_risk", 0.0),
        ("9", "good", 100.0),  # forms send text
        (9.0, "good", 100.0),
    ],
)
def test_an_nps_answer_makes_a_promoter_a_passive_or_a_detractor(
    score: Any, status: str, points: float
):
    answer = nps(score)

    found = assess([answer], now=NOW)

    assert (found.status, found.score, found.evidence) == (status, points, (answer["id"],))


@pytest.mark.parametrize(
    ("rating", "status", "points"),
    [
        (5, "good", 100.0),
        (4, "good", 75.0),
        (3, "watch", 50.0),
        (2, "at_risk", 25.0),
        (1, "at_risk", 0.0),
    ],
)
def test_a_feedback_rating_counts_from_bad_to_good(rating: int, status: str, points: float):
    found = assess([feedback(rating)], now=NOW)

    assert (found.status, found.score) == (status, points)


def test_no_signal_is_unknown():
    found = assess([row("page_view", 1), ticket("low")], now=NOW)

    assert found == Health("unknown", None, ("no NPS, feedback or support signal in 180 days",), ())


def test_signals_older_than_the_window_are_unknown():
    found = assess([nps(10, days_ago=181), ticket("urgent", days_ago=91)], now=NOW)

    assert (found.status, found.score) == ("unknown", None)


def test_an_old_detractor_is_superseded_by_a_recent_promoter():
    old, recent = nps(2, days_ago=120), nps(9, days_ago=5)

    found = assess([recent, old], now=NOW)  # in any order

    assert (found.status, found.score, found.evidence) == ("good", 100.0, (recent["id"],))
    assert found.reasons == (
        "score 100 (good): 50 + 50 x the weighted mean of 1 signal(s)",
        "NPS 9 (promoter) on 2026-10-28: +1 x 2",
        "NPS 2 (detractor) on 2026-07-05: superseded by a later answer",
    )


def test_signals_of_different_kinds_are_weighted_together():
    promoter, poor, urgent = nps(10, 20), feedback(2, 10), ticket("urgent", 3)

    found = assess([promoter, poor, urgent], now=NOW)

    # (2 x 1 + 1 x -0.5 + 2 x -1) / 5 = -0.1: 45, to watch
    assert (found.status, found.score) == ("watch", 45.0)
    assert found.evidence == (promoter["id"], poor["id"], urgent["id"])
    assert found.reasons[1:] == (
        "NPS 10 (promoter) on 2026-10-13: +1 x 2",
        "feedback 2/5 on 2026-10-23: -0.5 x 1",
        "urgent support ticket on 2026-10-30: -1 x 2",
    )


def test_every_recent_serious_ticket_counts_and_routine_ones_do_not():
    found = assess([nps(8), ticket("high", 2), ticket("High", 4), ticket("normal", 1)], now=NOW)

    # (2 x 0 + 1 x -1 + 1 x -1) / 4 = -0.5: 25
    assert (found.status, found.score, len(found.evidence)) == ("at_risk", 25.0, 3)


@pytest.mark.parametrize(
    "answer",
    [nps(11), nps(-1), nps(True), nps("nine"), nps(None), feedback(0), feedback(6), feedback(4.5)],
)
def test_an_answer_out_of_range_is_no_signal(answer: dict[str, Any]):
    assert assess([answer], now=NOW).status == "unknown"


def test_an_answer_after_now_does_not_count_yet():
    assert assess([nps(10, days_ago=-1)], now=NOW).status == "unknown"


@pytest.mark.parametrize(
    ("score", "status"),
    [
        (100, "good"),
        (70, "good"),
        (69.9, "watch"),
        (40, "watch"),
        (39.9, "at_risk"),
        (0, "at_risk"),
    ],
)
def test_the_thresholds(score: float, status: str):
    assert status_for(score) == status
