"""Evaluating a condition in Python against one contact, with a trace of what matched.

Pure: the caller hands over a :class:`Snapshot` (the contact, its account, touches and
activities, and the ``now`` that time windows count back from). The trace says, for every
node, whether it held, the value a field test saw, and for activity and touch conditions the
ids of the events that passed the filters and how many there were, so a score can name its
evidence. ``docs/conditions.md`` states the semantics; ``compile.py`` implements the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

from leadflow.rules.ast import (
    COMPARISONS,
    AllOf,
    AnyOf,
    Condition,
    CountTest,
    EventCondition,
    Field,
    Not,
    Op,
    Predicate,
    Regex,
    Scope,
    TimePoint,
    Window,
    format_operand,
)
from leadflow.rules.vocabulary import fold

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """What a condition may look at. Rows are plain mappings of the tables' columns;
    times are timezone-aware. First and last touch are found in ``touches`` by the ids the
    contact holds (``first_touch_id``, ``last_touch_id``)."""

    contact: Row
    now: datetime
    account: Row | None = None
    touches: Sequence[Row] = ()
    activities: Sequence[Row] = ()
    score: Row | None = None  # fit, engagement, total, grade; None: not scored
    qualification: Row | None = None  # criterion name -> value

    def record(self, scope: Scope) -> Row | None:
        if scope is Scope.CONTACT:
            return self._contact
        if scope is Scope.ACCOUNT:
            return self.account
        if scope is Scope.SCORE:
            return self._score
        if scope is Scope.QUALIFICATION:
            return self.qualification
        wanted = self.contact.get(f"{scope.value}_id")
        return next((t for t in self.touches if wanted is not None and t["id"] == wanted), None)

    @cached_property
    def _score(self) -> Row | None:
        """The score with its grade's two halves, as conditions name them."""
        if self.score is None:
            return None
        grade = self.score.get("grade") or ""
        return {**self.score, "fit_grade": grade[:1], "engagement_grade": grade[1:2]}

    @cached_property
    def _contact(self) -> Row:
        """The contact with ``last_activity_at``, which storage derives from the activity
        log rather than keeps; a snapshot that states it (a test's, say) keeps its own."""
        if "last_activity_at" in self.contact:
            return self.contact
        latest = max((a["occurred_at"] for a in self.activities), default=None)
        return {**self.contact, "last_activity_at": latest}


@dataclass(frozen=True)
class Trace:
    """Whether ``condition`` held, and why."""

    condition: Condition
    matched: bool
    children: tuple[Trace, ...] = ()
    value: Any = None  # what a field test saw (None: missing)
    evidence: tuple[int, ...] = ()  # ids of the events that passed an event condition
    count: int | None = None  # how many there were

    def explain(self, indent: int = 0) -> list[str]:
        """One line per node, nested like the condition."""
        mark = "[x]" if self.matched else "[ ]"
        line = f"{'  ' * indent}{mark} {_headline(self.condition)}"
        if isinstance(self.condition, Predicate):
            line += f"  (value: {_shown(self.value)})"
        elif isinstance(self.condition, EventCondition):
            ids = ", ".join(map(str, self.evidence)) or "none"
            line += f"  (count {self.count}; ids: {ids})"
        return [line, *(ln for child in self.children for ln in child.explain(indent + 1))]


def evaluate(condition: Condition, snapshot: Snapshot) -> Trace:
    """Evaluate every node (no short-circuit, so the trace is complete)."""
    if isinstance(condition, AllOf | AnyOf):
        children = tuple(evaluate(item, snapshot) for item in condition.items)
        combine = all if isinstance(condition, AllOf) else any
        return Trace(condition, combine(c.matched for c in children), children)
    if isinstance(condition, Not):
        child = evaluate(condition.item, snapshot)
        return Trace(condition, not child.matched, (child,))
    if isinstance(condition, EventCondition):
        return _event(condition, snapshot)
    value = field_value(condition.field, snapshot.record(condition.field.scope))
    return Trace(condition, holds(condition, value, snapshot.now), value=value)


def matches(condition: Condition, snapshot: Snapshot) -> bool:
    """Whether ``condition`` holds: :func:`evaluate`'s answer without building its trace
    (and short-circuiting), for the paths that decide many contacts at once."""
    if isinstance(condition, AllOf):
        return all(matches(item, snapshot) for item in condition.items)
    if isinstance(condition, AnyOf):
        return any(matches(item, snapshot) for item in condition.items)
    if isinstance(condition, Not):
        return not matches(condition.item, snapshot)
    if isinstance(condition, EventCondition):
        return _event(condition, snapshot).matched
    value = field_value(condition.field, snapshot.record(condition.field.scope))
    return holds(condition, value, snapshot.now)


def field_value(field: Field, record: Row | None) -> Any:
    """The field's value in ``record``; None when the record, the key or the value is missing
    (a JSON null counts as missing)."""
    if record is None:
        return None
    if field.key is None:
        return record.get(field.column)
    properties = record.get("properties")
    return properties.get(field.key) if isinstance(properties, Mapping) else None


def holds(predicate: Predicate, value: Any, now: datetime) -> bool:
    """One field test on one value. Every operator but ``ne`` and ``is_set: false`` is false
    on a missing value, and on a value of another type than its operand."""
    op, operand = predicate.op, predicate.operand
    if op is Op.IS_SET:
        return (value is not None) is operand
    if op is Op.NE:
        return not _equals(value, operand)
    if op is Op.EQ:
        return _equals(value, operand)
    if op is Op.IN:
        assert isinstance(operand, tuple)
        return any(_equals(value, item) for item in operand)
    if op in (Op.CONTAINS, Op.STARTS_WITH, Op.REGEX):
        return isinstance(value, str) and text_matcher(op, operand)(fold(value))
    if op in (Op.BEFORE, Op.AFTER, Op.WITHIN):
        return isinstance(value, datetime) and _time_test(op, value, operand, now)
    number = as_number(value)
    return number is not None and compare(op, number, operand)


def as_number(value: Any) -> float | None:
    """Numbers compare as 64-bit floats; a boolean is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def compare(op: Op, left: float, operand: Any) -> bool:
    if op is Op.BETWEEN:
        low, high = operand
        return bool(low <= left <= high)
    return bool(COMPARISONS[op](left, operand))


def _equals(value: Any, operand: Any) -> bool:
    if isinstance(operand, bool):
        return value is operand  # only a boolean is a boolean's equal
    if isinstance(operand, str):
        return isinstance(value, str) and fold(value) == fold(operand)
    number = as_number(value)
    return number is not None and number == operand


def text_matcher(op: Op, operand: Any) -> Callable[[str], bool]:
    """The test contains, starts_with or regex applies to a folded text."""
    if op is Op.CONTAINS:
        needle = fold(operand)
        return lambda folded: needle in folded
    if op is Op.STARTS_WITH:
        prefix = fold(operand)
        return lambda folded: folded.startswith(prefix)
    assert isinstance(operand, Regex)
    search = _compiled(operand.python).search
    return lambda folded: search(folded) is not None


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _time_test(op: Op, value: datetime, operand: Any, now: datetime) -> bool:
    if op is Op.WITHIN:
        return bool(now - operand <= value <= now)
    assert isinstance(operand, TimePoint)
    bound = operand.resolve(now)
    # Half-open: "after X" includes X, "before X" excludes it, so the two never overlap.
    return bool(value >= bound) if op is Op.AFTER else bool(value < bound)


def _event(condition: EventCondition, snapshot: Snapshot) -> Trace:
    rows = snapshot.activities if condition.source is Scope.ACTIVITY else snapshot.touches
    hits = [row for row in rows if _event_passes(condition, row, snapshot.now)]
    hits.sort(key=lambda row: (row["occurred_at"], row["id"]))
    return Trace(
        condition,
        count_holds(condition.count, len(hits)),
        evidence=tuple(row["id"] for row in hits),
        count=len(hits),
    )


def _event_passes(condition: EventCondition, row: Row, now: datetime) -> bool:
    if condition.types and row.get("type") not in condition.types:
        return False
    if not in_window(condition.window, row["occurred_at"], now):
        return False
    return condition.where is None or _row_holds(condition.where, row, now)


def in_window(window: Window, at: datetime, now: datetime) -> bool:
    if window.within is not None and not now - window.within <= at <= now:
        return False
    if window.after is not None and at < window.after.resolve(now):
        return False
    return window.before is None or at < window.before.resolve(now)


def count_holds(test: CountTest, count: int) -> bool:
    return compare(test.op, float(count), test.value)


def _row_holds(condition: Condition, row: Row, now: datetime) -> bool:
    """A ``where:`` filter on one event row (no trace: the evidence ids say enough)."""
    if isinstance(condition, AllOf):
        return all(_row_holds(item, row, now) for item in condition.items)
    if isinstance(condition, AnyOf):
        return any(_row_holds(item, row, now) for item in condition.items)
    if isinstance(condition, Not):
        return not _row_holds(condition.item, row, now)
    assert isinstance(condition, Predicate), "the parser allows no event inside an event"
    return holds(condition, field_value(condition.field, row), now)


def _headline(condition: Condition) -> str:
    if isinstance(condition, AllOf):
        return "all of"
    if isinstance(condition, AnyOf):
        return "any of"
    if isinstance(condition, Not):
        return "not"
    return str(condition)


def _shown(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, datetime):
        return value.isoformat()
    return format_operand(value)
