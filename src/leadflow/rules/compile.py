"""Compiling a condition to one SQLAlchemy Core boolean expression over ``contacts``.

Use it as ``select(contacts.c.id).where(compile_condition(cond, now=now))`` for bulk work
(segments, rescoring). Account and first/last-touch fields become EXISTS over the row the
contact points at; activity and touch conditions become EXISTS, or a correlated COUNT when a
count other than "at least once" is asked. Every piece is two-valued (never NULL), so
``not`` means exactly what it means in :mod:`leadflow.rules.evaluate`; the property test in
``tests/rules/test_agreement.py`` holds the two to the same answers on both databases.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, and_, bindparam, cast, func, literal, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from leadflow.activity.models import activities
from leadflow.activity.queries import last_activity_at
from leadflow.contacts.models import accounts, contacts, touches
from leadflow.lifecycle.models import qualifications
from leadflow.rules.ast import (
    AT_LEAST_ONCE,
    COMPARISONS,
    AllOf,
    AnyOf,
    Condition,
    CountTest,
    EventCondition,
    Kind,
    Not,
    Op,
    Predicate,
    Regex,
    Scope,
    TimePoint,
    Window,
)
from leadflow.rules.sqlfuncs import (
    AsciiLower,
    JsonBoolean,
    JsonNumber,
    JsonPresent,
    JsonText,
    RegexSearch,
    TextContains,
)
from leadflow.rules.vocabulary import STORED_FOLDED, fold
from leadflow.scoring.models import contact_scores

Expr = ColumnElement[Any]
_TOUCH_POINTERS = {
    Scope.FIRST_TOUCH: contacts.c.first_touch_id,
    Scope.LAST_TOUCH: contacts.c.last_touch_id,
}


def _column(table: FromClause, name: str) -> Expr:
    if table is contacts and name == "last_activity_at":
        return last_activity_at(contacts.c.id)  # derived from the log, not stored
    if name in _GRADE_HALVES:  # a contact_scores row's grade, such as A2, split in two
        return func.substr(table.c.grade, _GRADE_HALVES[name], 1)
    return table.c[name]


_GRADE_HALVES = {"fit_grade": 1, "engagement_grade": 2}


def compile_condition(condition: Condition, *, now: datetime) -> ColumnElement[bool]:
    """The SQL form of ``condition``, with time windows counted back from ``now``."""
    return _Compiler(now).condition(condition, row=None)


@dataclass
class TimeBinds:
    """The parameters a condition compiled without a ``now`` needs: the instants its time
    windows and tests count back from it, named by how far back they are."""

    ago: set[timedelta] = field(default_factory=set)

    def names(self) -> set[str]:
        return {_NOW, *(name_ago(d) for d in self.ago)}

    def values(self, now: datetime) -> dict[str, datetime]:
        found = {name_ago(d): now - d for d in self.ago}
        found[_NOW] = now
        return found


_NOW = "lf_now"


def name_ago(duration: timedelta) -> str:
    return f"lf_ago_{duration // timedelta(microseconds=1)}"


def compile_condition_for_any_time(condition: Condition, binds: TimeBinds) -> ColumnElement[bool]:
    """The SQL form of ``condition`` with the instants it counts back from ``now`` left as
    parameters (added to ``binds``), so that one statement serves every ``now``: pass
    ``binds.values(now)`` with each execution. Building and compiling a statement per event
    batch cost more than running it."""
    return _Compiler(None, binds).condition(condition, row=None)


def compile_event_filter(
    condition: EventCondition, table: FromClause, *, now: datetime
) -> ColumnElement[bool]:
    """The test one row of ``table`` (activities, or an alias of it) must pass to be one of
    ``condition``'s events: its types, window and ``where:``; the count is the caller's."""
    compiler = _Compiler(now)
    clauses: list[ColumnElement[bool]] = []
    if condition.types:
        clauses.append(table.c.type.in_(condition.types))
    clauses += compiler.window(condition.window, table.c.occurred_at)
    if condition.where is not None:
        clauses.append(compiler.condition(condition.where, row=table))
    return and_(true(), *clauses)


class _Compiler:
    def __init__(self, now: datetime | None, binds: TimeBinds | None = None) -> None:
        """With ``now`` None, instants counted back from it become parameters (``binds``)."""
        if now is not None and now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.now = now
        self.binds = binds if binds is not None else TimeBinds()

    def instant(self, ago: timedelta) -> Any:
        """``now - ago``: a value, or a parameter when compiling for any time."""
        if self.now is not None:
            return self.now - ago
        self.binds.ago.add(ago)
        return bindparam(name_ago(ago))

    def current(self) -> Any:
        return self.now if self.now is not None else bindparam(_NOW)

    def condition(self, condition: Condition, row: FromClause | None) -> ColumnElement[bool]:
        """``row`` is the event table inside an event's ``where:``; None at contact level."""
        if isinstance(condition, AllOf):
            return and_(*(self.condition(item, row) for item in condition.items))
        if isinstance(condition, AnyOf):
            return or_(*(self.condition(item, row) for item in condition.items))
        if isinstance(condition, Not):
            return not_(self.condition(condition.item, row))
        if isinstance(condition, EventCondition):
            return self.event(condition)
        return self.predicate(condition, row)

    def predicate(self, predicate: Predicate, row: FromClause | None) -> ColumnElement[bool]:
        # ne and is_set: false are the negations of eq and is_set: true, taken outside the
        # EXISTS, so a contact without an account has "account.industry ne x" true.
        if predicate.op is Op.NE:
            return not_(self.predicate(replace(predicate, op=Op.EQ), row))
        if predicate.op is Op.IS_SET and predicate.operand is False:
            return not_(self.predicate(replace(predicate, operand=True), row))
        scope = predicate.field.scope
        if row is not None or scope is Scope.CONTACT:
            return self.test(predicate, row if row is not None else contacts)
        if scope is Scope.ACCOUNT:
            table = accounts.alias()
            link = table.c.id == contacts.c.account_id
        elif scope is Scope.SCORE:
            table = contact_scores.alias()
            link = table.c.contact_id == contacts.c.id
        elif scope is Scope.QUALIFICATION:
            # One row per (contact, criterion): the test is on its value.
            table = qualifications.alias()
            link = and_(
                table.c.contact_id == contacts.c.id,
                table.c.criterion == predicate.field.column,
            )
            predicate = replace(predicate, field=replace(predicate.field, column="value"))
        else:
            table = touches.alias()
            link = table.c.id == _TOUCH_POINTERS[scope]
        return select(literal(1)).where(link, self.test(predicate, table)).exists()

    def test(self, predicate: Predicate, table: FromClause) -> ColumnElement[bool]:
        """A positive test (not ne, not is_set: false) on one row of ``table``."""
        field, op, operand = predicate.field, predicate.op, predicate.operand
        column = _column(table, field.column)
        if op is Op.IS_SET:
            return JsonPresent(column, field.key) if field.key else column.is_not(None)
        if field.kind is Kind.TIME:
            return _guarded(column, self.time_test(op, column, operand))
        sample = operand[0] if isinstance(operand, tuple) else operand
        view = _view(column, field.key, field.kind, sample)
        folded = field.key is None and (field.scope, field.column) in STORED_FOLDED
        return _guarded(view, _value_test(op, view, operand, stored_folded=folded))

    def time_test(self, op: Op, column: Expr, operand: Any) -> ColumnElement[bool]:
        if op is Op.WITHIN:
            return and_(column >= self.instant(operand), column <= self.current())
        assert isinstance(operand, TimePoint)
        if operand.absolute is not None:
            bound = operand.absolute
        else:
            assert operand.ago is not None
            bound = self.instant(operand.ago)
        return column >= bound if op is Op.AFTER else column < bound

    def event(self, condition: EventCondition) -> ColumnElement[bool]:
        table = (activities if condition.source is Scope.ACTIVITY else touches).alias()
        clauses: list[ColumnElement[bool]] = [table.c.contact_id == contacts.c.id]
        if condition.types:
            clauses.append(table.c.type.in_(condition.types))
        clauses += self.window(condition.window, table.c.occurred_at)
        if condition.where is not None:
            clauses.append(self.condition(condition.where, row=table))
        if condition.count == AT_LEAST_ONCE:
            return select(table.c.id).where(*clauses).exists()
        counted = select(func.count()).select_from(table).where(*clauses).scalar_subquery()
        return _count_test(condition.count, counted)

    def window(self, window: Window, column: Expr) -> list[ColumnElement[bool]]:
        clauses = []
        if window.within is not None:
            clauses.append(self.time_test(Op.WITHIN, column, window.within))
        if window.after is not None:
            clauses.append(self.time_test(Op.AFTER, column, window.after))
        if window.before is not None:
            clauses.append(self.time_test(Op.BEFORE, column, window.before))
        return clauses


def _view(column: Expr, key: str | None, kind: Kind, sample: Any) -> Expr:
    """The column seen as the operand's type: for a custom property, only values of that
    JSON type are seen at all (anything else reads as NULL, so the test is false)."""
    if key is None:
        return cast(column, Float) if kind is Kind.NUMBER else column
    if isinstance(sample, bool):
        return JsonBoolean(column, key)
    if isinstance(sample, str | Regex):
        return JsonText(column, key)
    return JsonNumber(column, key)


def _guarded(view: Expr, test: ColumnElement[bool]) -> ColumnElement[bool]:
    # FALSE AND NULL is FALSE: a missing value makes the test false instead of NULL, so a
    # surrounding NOT turns it true, as in Python.
    return and_(view.is_not(None), test)


def _value_test(
    op: Op, view: Expr, operand: Any, *, stored_folded: bool = False
) -> ColumnElement[bool]:
    if op in (Op.EQ, Op.IN):
        values = operand if isinstance(operand, tuple) else (operand,)
        compared = view if stored_folded else _lowered(view, values[0])
        return compared.in_([_literal(v) for v in values])
    if op is Op.CONTAINS:
        return TextContains(AsciiLower(view), fold(operand))
    if op is Op.STARTS_WITH:
        prefix = fold(operand)
        return func.substr(AsciiLower(view), 1, len(prefix)) == prefix
    if op is Op.REGEX:
        return RegexSearch(AsciiLower(view), operand)
    if op is Op.BETWEEN:
        return view.between(operand[0], operand[1])
    return _ordering(op, view, operand)


def _lowered(view: Expr, sample: Any) -> Expr:
    return AsciiLower(view) if isinstance(sample, str) else view


def _literal(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return fold(value) if isinstance(value, str) else value


def _ordering(op: Op, left: Expr, right: Any) -> ColumnElement[bool]:
    result: ColumnElement[bool] = COMPARISONS[op](left, right)
    return result


def _count_test(test: CountTest, counted: Expr) -> ColumnElement[bool]:
    if test.op is Op.BETWEEN:
        assert isinstance(test.value, tuple)
        return counted.between(*test.value)
    return _ordering(test.op, counted, test.value)
