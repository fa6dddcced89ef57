"""The condition language's values: frozen dataclasses, built by the parser.

A condition is a tree of :class:`Predicate` (one field, one operator), :class:`EventCondition`
(activity or touches, with filters, a time window and a count) and the groups
:class:`AllOf`, :class:`AnyOf` and :class:`Not`. ``at`` says where each node was written;
it never takes part in equality, so the same condition read from two files compares equal.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from dataclasses import field as _field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Union


class Scope(StrEnum):
    """Whose field: the contact's own, its account's, a touch's, an activity's, the
    contact's score or one of its qualification criteria."""

    CONTACT = "contact"
    ACCOUNT = "account"
    FIRST_TOUCH = "first_touch"
    LAST_TOUCH = "last_touch"
    ACTIVITY = "activity"  # one activity, inside ``activity: {where: ...}``
    TOUCH = "touch"  # one touch, inside ``touch: {where: ...}``
    SCORE = "score"  # the contact's score (leadflow.scoring): fit, engagement, total, grade
    QUALIFICATION = "qualification"  # the contact's qualification criteria, by name


class Kind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    TIME = "time"
    PROPERTY = "property"  # a custom property: its JSON type is known only per value


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    IN = "in"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    REGEX = "regex"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    IS_SET = "is_set"
    BEFORE = "before"
    AFTER = "after"
    WITHIN = "within"


@dataclass(frozen=True)
class Field:
    scope: Scope
    column: str
    kind: Kind
    key: str | None = None  # the property key when column is "properties"
    choices: tuple[str, ...] = ()  # the only values an enumerated field can hold

    @property
    def name(self) -> str:
        path = f"properties.{self.key}" if self.key is not None else self.column
        if self.scope in (Scope.ACTIVITY, Scope.TOUCH):
            return path
        return f"{self.scope.value}.{path}"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class TimePoint:
    """An instant: absolute, or a duration before the evaluation's ``now``."""

    absolute: datetime | None = None
    ago: timedelta | None = None

    def resolve(self, now: datetime) -> datetime:
        if self.absolute is not None:
            return self.absolute
        assert self.ago is not None
        return now - self.ago

    def __str__(self) -> str:
        if self.absolute is not None:
            return self.absolute.isoformat()
        assert self.ago is not None
        return f"{format_duration(self.ago)} ago"


@dataclass(frozen=True)
class Regex:
    """A pattern from the portable subset, rendered once for each engine."""

    source: str
    python: str  # for Python's re (the evaluator, and SQLite's REGEXP function)
    postgres: str  # for PostgreSQL's ~ operator

    def __str__(self) -> str:
        return f"/{self.source}/"


Scalar = Union[str, float, bool]  # noqa: UP007 (runtime alias)
Operand = Union[Scalar, tuple[Scalar, ...], Regex, TimePoint, timedelta]  # noqa: UP007


@dataclass(frozen=True)
class Predicate:
    field: Field
    op: Op
    operand: Operand
    at: str = _field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.field} {self.op.value} {format_operand(self.operand)}"


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]
    at: str = _field(default="", compare=False)

    def __str__(self) -> str:
        return "all(" + ", ".join(map(str, self.items)) + ")"


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]
    at: str = _field(default="", compare=False)

    def __str__(self) -> str:
        return "any(" + ", ".join(map(str, self.items)) + ")"


@dataclass(frozen=True)
class Not:
    item: Condition
    at: str = _field(default="", compare=False)

    def __str__(self) -> str:
        return f"not({self.item})"


@dataclass(frozen=True)
class Window:
    """When an event must have happened; every part given must hold."""

    within: timedelta | None = None
    after: TimePoint | None = None
    before: TimePoint | None = None

    def __str__(self) -> str:
        parts = [f"within {format_duration(self.within)}"] if self.within else []
        parts += [f"after {self.after}"] if self.after else []
        parts += [f"before {self.before}"] if self.before else []
        return " ".join(parts)


@dataclass(frozen=True)
class CountTest:
    op: Op  # eq, ne, gt, gte, lt, lte or between
    value: int | tuple[int, int]

    def __str__(self) -> str:
        return f"count {self.op.value} {format_operand(self.value)}"


AT_LEAST_ONCE = CountTest(Op.GTE, 1)

# One table for both back ends: Python applies it to floats, compile.py to SQL columns.
COMPARISONS: dict[Op, Callable[[Any, Any], Any]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.GT: operator.gt,
    Op.GTE: operator.ge,
    Op.LT: operator.lt,
    Op.LTE: operator.le,
}


@dataclass(frozen=True)
class EventCondition:
    """``activity:`` or ``touch:``: how many of the contact's events pass the filters."""

    source: Scope  # Scope.ACTIVITY or Scope.TOUCH
    types: tuple[str, ...] = ()  # activity types; empty means any type
    where: Condition | None = None
    window: Window = _field(default_factory=Window)
    count: CountTest = AT_LEAST_ONCE
    at: str = _field(default="", compare=False)

    def __str__(self) -> str:
        parts = [self.source.value]
        parts += [f"type in {list(self.types)}"] if self.types else []
        parts += [f"where {self.where}"] if self.where is not None else []
        parts += [str(self.window)] if self.window != Window() else []
        parts += [str(self.count)] if self.count != AT_LEAST_ONCE else []
        return "(" + " ".join(parts) + ")"


Condition = Union[Predicate, AllOf, AnyOf, Not, EventCondition]  # noqa: UP007


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_operand(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(format_operand(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def predicates(condition: Condition | None) -> list[Predicate]:
    """The field tests of a condition at contact level (not those inside an event's
    ``where:``), for loaders that check what a condition reads."""
    if isinstance(condition, AllOf | AnyOf):
        return [p for item in condition.items for p in predicates(item)]
    if isinstance(condition, Not):
        return predicates(condition.item)
    return [condition] if isinstance(condition, Predicate) else []


def scopes_read(conditions: Iterable[Condition | None]) -> frozenset[Scope]:
    """The scopes the field tests of these conditions name, so that a snapshot loads only
    those (events inside ``activity:`` or ``touch:`` are the caller's to add)."""
    return frozenset(p.field.scope for c in conditions for p in predicates(c))
