"""A customer's health from the signals in its timeline: pure and explainable, like scoring.

The input is activity rows (mappings with ``id``, ``type``, ``occurred_at``, ``properties``);
the storage-aware side is :func:`leadflow.lifecycle.deals.customer_health`.

Signals, each a value from -1 (bad) to +1 (good) with a weight:

========================  ==============================  =================================
activity type             property                        value, weight
========================  ==============================  =================================
``nps_submitted``         ``score`` 0..10                 9-10 promoter +1, 7-8 passive 0,
                                                          0-6 detractor -1; weight 2
``feedback_submitted``    ``rating`` 1..5                 (rating - 3) / 2, so 5 is +1 and
                                                          1 is -1; weight 1
``support_ticket``        ``priority``                    urgent -1, weight 2; high -1,
                                                          weight 1; other priorities are
                                                          routine support, not a signal
========================  ==============================  =================================

Rules:

1. Only signals of the last 180 days count (support tickets: the last 90 days, as a ticket
   says little about how a customer feels months after it was solved). Without any, the
   health is ``unknown`` and the score None: silence is not health.
2. Of NPS answers and of feedback answers only the latest of each counts: a customer who
   answered 3 in spring and 9 in autumn is a promoter now. The older answers are named as
   superseded in the reasons. Every recent urgent or high ticket counts.
3. The score is 50 + 50 x the weighted mean of the values counted: 0 to 100, one decimal.
4. A score of 70 or more is ``good``, under 40 ``at_risk``, anything between ``watch``.

An answer whose value is missing or out of range is not a signal and is skipped. The reasons
explain every point; the evidence is the ids of the activities counted, oldest first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

HealthStatus = Literal["good", "watch", "at_risk", "unknown"]
Reading = tuple[float, float, str]  # a signal's value, weight, and what it is for people

NPS = "nps_submitted"
FEEDBACK = "feedback_submitted"
SUPPORT = "support_ticket"
SIGNAL_TYPES = (NPS, FEEDBACK, SUPPORT)

WINDOW = timedelta(days=180)
SUPPORT_WINDOW = timedelta(days=90)
NPS_WEIGHT = 2.0  # the one question asked to measure loyalty: it weighs most
FEEDBACK_WEIGHT = 1.0
TICKET_WEIGHTS: Mapping[str, float] = {"urgent": 2.0, "high": 1.0}
GOOD = 70.0
AT_RISK = 40.0


@dataclass(frozen=True)
class Health:
    status: HealthStatus
    score: float | None  # 0..100; None: unknown
    reasons: tuple[str, ...]
    evidence: tuple[int, ...]  # activity ids counted, oldest first


@dataclass(frozen=True)
class Signal:
    activity_id: int
    kind: str  # an activity type of SIGNAL_TYPES
    at: datetime
    value: float  # -1..1
    weight: float
    what: str  # for people: "NPS 9 (promoter)"

    @property
    def reason(self) -> str:
        return f"{self.what} on {self.at:%Y-%m-%d}: {self.value:+g} x {self.weight:g}"


def assess(rows: Iterable[Mapping[str, Any]], *, now: datetime) -> Health:
    """The health ``rows`` show as of ``now``."""
    recent = sorted(
        (s for s in map(read_signal, rows) if s is not None and is_recent(s, now)),
        key=lambda s: (s.at, s.activity_id),
    )
    counted, superseded = latest_answers(recent)
    if not counted:
        days = WINDOW.days
        return Health("unknown", None, (f"no NPS, feedback or support signal in {days} days",), ())
    score = health_score(counted)
    status = status_for(score)
    reasons = (
        f"score {score:g} ({status}): 50 + 50 x the weighted mean of {len(counted)} signal(s)",
        *(s.reason for s in counted),
        *(f"{s.what} on {s.at:%Y-%m-%d}: superseded by a later answer" for s in superseded),
    )
    return Health(status, score, reasons, tuple(s.activity_id for s in counted))


def read_signal(row: Mapping[str, Any]) -> Signal | None:
    """The signal an activity row gives, or None when it gives none."""
    reader = _READERS.get(row["type"])
    found = reader(row.get("properties") or {}) if reader is not None else None
    if found is None:
        return None
    value, weight, what = found
    return Signal(row["id"], row["type"], row["occurred_at"], value, weight, what)


def _nps_answer(props: Mapping[str, Any]) -> Reading | None:
    score = _whole(props.get("score"), 0, 10)
    if score is None:
        return None
    if score >= 9:
        return 1.0, NPS_WEIGHT, f"NPS {score} (promoter)"
    if score >= 7:
        return 0.0, NPS_WEIGHT, f"NPS {score} (passive)"
    return -1.0, NPS_WEIGHT, f"NPS {score} (detractor)"


def _feedback_answer(props: Mapping[str, Any]) -> Reading | None:
    rating = _whole(props.get("rating"), 1, 5)
    if rating is None:
        return None
    return (rating - 3) / 2, FEEDBACK_WEIGHT, f"feedback {rating}/5"


def _ticket(props: Mapping[str, Any]) -> Reading | None:
    priority = str(props.get("priority", "")).strip().lower()
    if priority not in TICKET_WEIGHTS:
        return None
    return -1.0, TICKET_WEIGHTS[priority], f"{priority} support ticket"


_READERS: Mapping[str, Callable[[Mapping[str, Any]], Reading | None]] = {
    NPS: _nps_answer,
    FEEDBACK: _feedback_answer,
    SUPPORT: _ticket,
}


def is_recent(signal: Signal, now: datetime) -> bool:
    window = SUPPORT_WINDOW if signal.kind == SUPPORT else WINDOW
    return now - window < signal.at <= now


def latest_answers(signals: list[Signal]) -> tuple[list[Signal], list[Signal]]:
    """(counted, superseded) of signals in time order: the latest NPS and feedback answer,
    and every ticket."""
    latest = {s.kind: s for s in signals if s.kind != SUPPORT}
    counted = [s for s in signals if s.kind == SUPPORT or latest[s.kind] is s]
    superseded = [s for s in signals if s.kind != SUPPORT and latest[s.kind] is not s]
    return counted, superseded


def health_score(signals: list[Signal]) -> float:
    mean = sum(s.value * s.weight for s in signals) / sum(s.weight for s in signals)
    return round(50 + 50 * mean, 1)


def status_for(score: float) -> HealthStatus:
    if score >= GOOD:
        return "good"
    return "at_risk" if score < AT_RISK else "watch"


def _whole(value: Any, low: int, high: int) -> int | None:
    """A whole number in [low, high] from a property (forms send "9" as often as 9)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and low <= value <= high else None
