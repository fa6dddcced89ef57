"""Reading an operator's value: the right type for the field and the operator, or a clear error."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TypeVar

from leadflow.rules.ast import Field, Kind, Op, Operand, Regex, Scalar, TimePoint
from leadflow.rules.errors import ConditionError, Problem, did_you_mean
from leadflow.rules.regex import RegexSyntaxError, compile_regex
from leadflow.rules.source import Node
from leadflow.rules.times import TimeSyntaxError, parse_duration, parse_time_point
from leadflow.rules.vocabulary import fold

T = TypeVar("T")


def parse_operand(field: Field, op: Op, node: Node) -> Operand:
    """The value of ``op`` in a test of ``field``, checked for type and sense."""
    if op in (Op.EQ, Op.NE):
        return _scalar(field, node)
    if op is Op.IN:
        return _in(field, node)
    if op in (Op.CONTAINS, Op.STARTS_WITH):
        return text(node, non_empty=True)
    if op is Op.REGEX:
        return _regex(node)
    if op is Op.BETWEEN:
        return pair(node, number)
    if op is Op.IS_SET:
        return _is_set(node)
    if op is Op.WITHIN:
        return duration(node, op.value)
    if op in (Op.BEFORE, Op.AFTER):
        return time_point(node, op.value)
    return number(node)  # gt, gte, lt, lte


def describe(value: object) -> str:
    """How a wrong value is named in messages: its type and the value itself."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, datetime | date):
        return f"date {value.isoformat()}"
    return f"a {type(value).__name__}"


def _wrong(node: Node, expected: str) -> ConditionError:
    shown = f"a {node.kind}" if node.kind != "scalar" else describe(node.value)
    return ConditionError(Problem.WRONG_TYPE, node.at, f"expected {expected}, got {shown}")


def number(node: Node) -> float:
    value = node.value
    if node.kind != "scalar" or isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(node, "a number")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise ConditionError(Problem.BAD_VALUE, node.at, f"number {value} is out of range")
    return result


def whole_number(node: Node) -> int:
    """A count: a whole number, zero or more."""
    value = node.value
    if node.kind != "scalar" or isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(node, "a whole number")
    if value < 0:
        raise ConditionError(Problem.BAD_VALUE, node.at, f"a count cannot be negative ({value})")
    return value


def text(node: Node, *, non_empty: bool = False) -> str:
    if node.kind != "scalar" or not isinstance(node.value, str):
        raise _wrong(node, "text")
    if non_empty and node.value == "":
        raise ConditionError(Problem.BAD_VALUE, node.at, "empty text would match every value")
    return node.value


def pair(node: Node, read: Callable[[Node], float]) -> tuple[float, float]:
    if node.kind != "list" or len(node.items) != 2:
        raise _wrong(node, "a list of two values [low, high]")
    low, high = (read(item) for item in node.items)
    if low > high:
        raise ConditionError(
            Problem.BAD_VALUE, node.at, f"between [{low:g}, {high:g}]: low is above high"
        )
    return low, high


def _scalar(field: Field, node: Node) -> Scalar:
    """A value to compare with: text for text fields, a number for numbers, either (or a
    boolean) for custom properties, whose JSON type then decides what can match."""
    if field.kind is Kind.NUMBER:
        return number(node)
    if field.kind is Kind.TEXT:
        return _choice(field, node, text(node))
    value = node.value
    if node.kind == "scalar" and isinstance(value, bool | str):
        return value
    if node.kind == "scalar" and isinstance(value, int | float):
        return number(node)
    if node.kind == "scalar" and value is None:
        raise ConditionError(
            Problem.WRONG_TYPE, node.at, "null never equals anything; use is_set: false"
        )
    raise _wrong(node, "text, a number or a boolean")


def _choice(field: Field, node: Node, value: str) -> str:
    if field.choices and fold(value) not in field.choices:
        raise ConditionError(
            Problem.BAD_VALUE,
            node.at,
            f"{value!r} is not a {field.column} (one of {', '.join(field.choices)})"
            + did_you_mean(fold(value), field.choices),
        )
    return value


def _in(field: Field, node: Node) -> tuple[Scalar, ...]:
    if node.kind != "list":
        raise _wrong(node, "a list of values")
    if not node.items:
        raise ConditionError(Problem.BAD_VALUE, node.at, "in: [] would never match")
    values = tuple(_scalar(field, item) for item in node.items)
    if len({type(v) for v in values}) > 1:
        raise ConditionError(Problem.WRONG_TYPE, node.at, "in: values must all be of one type")
    return tuple(dict.fromkeys(values))


def _regex(node: Node) -> Regex:
    source = text(node, non_empty=True)
    try:
        return compile_regex(source)
    except RegexSyntaxError as exc:
        raise ConditionError(Problem.BAD_REGEX, node.at, f"regex {source!r}: {exc}") from None


def _is_set(node: Node) -> bool:
    if node.kind != "scalar" or not isinstance(node.value, bool):
        raise _wrong(node, "true or false")
    return node.value


def duration(node: Node, label: str) -> timedelta:
    return _timed(node, label, parse_duration, "a duration such as 30d")


def time_point(node: Node, label: str) -> TimePoint:
    return _timed(node, label, parse_time_point, "a date, a date-time or a duration")


def _timed(node: Node, label: str, read: Callable[[object], T], expected: str) -> T:
    if node.kind != "scalar":
        raise _wrong(node, expected)
    try:
        return read(node.value)
    except TimeSyntaxError as exc:
        raise ConditionError(Problem.BAD_WINDOW, node.at, f"{label}: {exc}") from None
