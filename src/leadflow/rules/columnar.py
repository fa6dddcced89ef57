"""Evaluating a condition for many contacts at once, on columns of their field values.

For bulk work (rescoring every contact's fit) where the compiled SQL would call back into
Python for each regex and each row. A condition qualifies when it reads only the contact's
and its account's own columns and custom properties (:func:`column_fields`); touches,
activity, score and qualification need the SQL path.

The answers are :func:`leadflow.rules.evaluate.holds`'s by construction: each predicate is
decided by ``holds`` itself, once per distinct value of its field, and the text tests
(contains, starts_with, regex) by the same matcher ``holds`` uses, on each value folded
once. Values are read with the tables' own column types (aware datetimes, floats), and a
property as the JSON parser gives it (a JSON true stays ``True``, never ``1``). The
property test in ``tests/rules/test_agreement.py`` holds this, the evaluator and the SQL to
the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray
from sqlalchemy import Connection, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from leadflow.contacts.models import accounts, contacts
from leadflow.rules.ast import AllOf, AnyOf, Condition, Field, Not, Op, Predicate, Scope
from leadflow.rules.evaluate import holds, text_matcher
from leadflow.rules.vocabulary import fold

Bools = NDArray[np.bool_]

# The columns a condition may read here: the contact's and its account's stored ones
# (contact.last_activity_at, stage, owner and the like come from other tables).
_COLUMNS = {
    Scope.CONTACT: contacts,
    Scope.ACCOUNT: accounts,
}
_DERIVED = {(Scope.CONTACT, "last_activity_at")}
_TEXT_TESTS = (Op.CONTAINS, Op.STARTS_WITH, Op.REGEX)


def column_fields(condition: Condition) -> frozenset[Field] | None:
    """The fields ``condition`` reads, or None when it reads anything but the contact's and
    its account's own columns and properties."""
    if isinstance(condition, AllOf | AnyOf):
        found: set[Field] = set()
        for item in condition.items:
            fields = column_fields(item)
            if fields is None:
                return None
            found |= fields
        return frozenset(found)
    if isinstance(condition, Not):
        return column_fields(condition.item)
    if not isinstance(condition, Predicate):
        return None
    field = condition.field
    table = _COLUMNS.get(field.scope)
    if table is None or (field.scope, field.column) in _DERIVED or field.column not in table.c:
        return None
    return frozenset([field])


def read_columns(
    conn: Connection, fields: frozenset[Field], where: ColumnElement[bool]
) -> tuple[NDArray[np.int64], Columns]:
    """The ids of the contacts ``where`` selects (ascending) and each field's values, as
    the evaluator's snapshot would hold them (None: missing)."""
    ordered = sorted(fields, key=lambda f: (f.scope.value, f.column, f.key or ""))
    sqlite = conn.dialect.name == "sqlite"
    columns: list[ColumnElement[Any]] = []
    for field in ordered:
        columns += _selected(field, sqlite)
    query = (
        select(contacts.c.id, *columns)
        .select_from(contacts.outerjoin(accounts, accounts.c.id == contacts.c.account_id))
        .where(where)
        .order_by(contacts.c.id)
    )
    if sqlite:
        # The driver's tuples, not SQLAlchemy rows (a million contacts: a second saved);
        # the only conversion SQLite's values need is the stored times' (below).
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            rows: list[Any] = cursor.execute(sql).fetchall()
        finally:
            cursor.close()
    else:
        rows = list(conn.execute(query))
    # A list per column by itemgetter: zip(*rows) makes the same columns as tuples at
    # twice the cost (0.9 s against 0.4 at a million contacts).
    transposed = [list(map(itemgetter(i), rows)) for i in range(len(columns) + 1)]
    ids = np.array(transposed[0], dtype=np.int64)
    values: dict[Field, Sequence[Any]] = {}
    at = 1
    for field in ordered:
        if field.key is not None and sqlite:
            pairs = zip(transposed[at], transposed[at + 1], strict=True)
            values[field] = [_json_value(kind, value) for kind, value in pairs]
            at += 2
            continue
        convert = _converter(field, conn) if sqlite else None
        column = transposed[at]
        values[field] = [convert(v) for v in column] if convert is not None else column
        at += 1
    return ids, Columns(values, len(rows))


def _converter(field: Field, conn: Connection) -> Any:
    """The column type's own conversion of a value read raw (stored times to aware UTC)."""
    column = _COLUMNS[field.scope].c[field.column]
    impl = column.type.dialect_impl(conn.dialect)
    return impl.result_processor(conn.dialect, None)


def _selected(field: Field, sqlite: bool) -> list[ColumnElement[Any]]:
    column = _COLUMNS[field.scope].c[field.column]
    if field.key is None:
        return [column]
    path: ColumnElement[Any] = literal_column(
        f"'$.\"{field.key}\"'"
    )  # keys are [A-Za-z0-9_-] (vocabulary)
    if sqlite:
        # json_extract gives 1 for a JSON true: its json_type tells the two apart.
        return [func.json_type(column, path), func.json_extract(column, path)]
    return [column[field.key]]  # PostgreSQL: ``->``, parsed by the driver


def _json_value(kind: str | None, value: Any) -> Any:
    """A property's value from SQLite's json_type and json_extract, as JSON parses it."""
    if kind in (None, "null"):
        return None
    if kind == "true":
        return True
    if kind == "false":
        return False
    if kind in ("array", "object"):
        return orjson.loads(value)
    return value


class Columns:
    """Some contacts' field values, one list per field in one contact order.

    A field with few distinct values is factorised once (a code per contact, the distinct
    values beside): each test on it is then decided once per distinct value and spread by
    the codes, instead of a pass over a million values per test. Text is folded once per
    field, and for a factorised field once per distinct value.
    """

    # A sample of this many values with more than half of them distinct: the field is
    # nearly unique (emails), and factorising it would only add a pass.
    SAMPLE = 2_000

    def __init__(self, values: Mapping[Field, Sequence[Any]], size: int) -> None:
        self.values = values
        self.size = size
        self._folded: dict[Field, list[str | None]] = {}
        self._distinct: dict[Field, Distinct | None] = {}

    def folded(self, field: Field) -> list[str | None]:
        texts = self._folded.get(field)
        if texts is None:
            texts = _folded(self.values[field])
            self._folded[field] = texts
        return texts

    def distinct(self, field: Field) -> Distinct | None:
        """The field's values factorised, or None when they are nearly all distinct or
        some cannot be hashed (a list or object property)."""
        if field not in self._distinct:
            self._distinct[field] = _factorise(self.values[field], self.SAMPLE)
        return self._distinct[field]


class Distinct:
    """A column as codes into its distinct values (each kept as first met)."""

    def __init__(self, codes: NDArray[np.intp], values: list[Any]) -> None:
        self.codes = codes
        self.values = values
        self._folded: list[str | None] | None = None

    def folded(self) -> list[str | None]:
        if self._folded is None:
            self._folded = _folded(self.values)
        return self._folded

    def spread(self, answers: Sequence[bool] | Bools) -> Bools:
        """Each contact's answer from its value's."""
        return np.asarray(answers, dtype=bool)[self.codes]


def _folded(values: Sequence[Any]) -> list[str | None]:
    return [fold(v) if isinstance(v, str) else None for v in values]


def _factorise(column: Sequence[Any], sample: int) -> Distinct | None:
    head = column[:sample]
    kinds = set(map(type, column))
    if kinds & {list, dict} or len(set(head)) * 2 > max(len(head), 2):
        return None
    index: dict[Any, int] = {}
    add = index.setdefault
    if bool in kinds and len(kinds - {type(None)}) > 1:
        # True == 1 as dict keys: with booleans among other values, the type is in the key.
        codes = np.fromiter(
            (add((v.__class__, v), len(index)) for v in column), np.intp, len(column)
        )
        return Distinct(codes, [v for _, v in index])
    codes = np.fromiter((add(v, len(index)) for v in column), np.intp, len(column))
    return Distinct(codes, list(index))


def evaluate_columns(condition: Condition, columns: Columns, now: datetime) -> Bools:
    """Whether ``condition`` holds for each contact of ``columns`` (which must hold every
    field :func:`column_fields` names)."""
    if isinstance(condition, AllOf):
        result = np.ones(columns.size, dtype=bool)
        for item in condition.items:
            result &= evaluate_columns(item, columns, now)
        return result
    if isinstance(condition, AnyOf):
        result = np.zeros(columns.size, dtype=bool)
        for item in condition.items:
            result |= evaluate_columns(item, columns, now)
        return result
    if isinstance(condition, Not):
        return ~evaluate_columns(condition.item, columns, now)
    assert isinstance(condition, Predicate), "column_fields admits nothing else"
    distinct = columns.distinct(condition.field)
    if condition.op in _TEXT_TESTS:
        # contains, starts_with, regex: false on a value that is not text, else the matcher
        # on the folded text.
        test = text_matcher(condition.op, condition.operand)
        texts = distinct.folded() if distinct is not None else columns.folded(condition.field)
        answers = np.fromiter((t is not None and test(t) for t in texts), bool, len(texts))
        return distinct.spread(answers) if distinct is not None else answers
    if distinct is not None:
        return distinct.spread([holds(condition, v, now) for v in distinct.values])
    return _by_distinct_value(condition, columns.values[condition.field], now)


def _by_distinct_value(predicate: Predicate, column: Sequence[Any], now: datetime) -> Bools:
    """``holds`` once per distinct value."""
    kinds = set(map(type, column))
    if kinds & {list, dict}:  # unhashable (a list or object property): one by one
        return np.fromiter((holds(predicate, v, now) for v in column), bool, len(column))
    if bool in kinds and len(kinds - {type(None)}) > 1:
        # True == 1 as dict keys: with booleans among other values, the type is in the key.
        keys: Sequence[Any] = [(v.__class__, v) for v in column]
        answers = {k: holds(predicate, k[1], now) for k in set(keys)}
    else:
        keys = column
        answers = {v: holds(predicate, v, now) for v in set(column)}
    return np.fromiter(map(answers.__getitem__, keys), dtype=bool, count=len(keys))
