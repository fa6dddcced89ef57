"""Core statements compiled once and run through the driver, for the event-ingest hot path.

SQLAlchemy caches a statement's compiled SQL, but on every execution it still builds the
parameters anew: each bound literal processed, and an expanding ``IN`` re-rendered into the
SQL text with a regular expression. For the lifecycle rules' statement (dozens of literals
and a list of contact ids) that was about three quarters of its cost for a one-event batch,
ten times the database's own time. A :class:`Prepared` statement does that work once: the
literals are processed at compile time, and a list of ids is one parameter (:func:`ids_in`:
``json_each`` on SQLite, ``= ANY(array)`` on PostgreSQL), so the SQL text never changes
and the driver's statement cache keeps it parsed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy import BigInteger, Connection, String, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement


def ids_in(column: ColumnElement[Any], name: str, dialect: Dialect) -> ColumnElement[bool]:
    """``column IN (the ids of one parameter)``: the list is passed whole, whatever its length
    (give it to :meth:`Prepared.parameters` under ``name``, listed in ``ids=``)."""
    if dialect.name == "postgresql":
        return column == func.any(bindparam(name, type_=ARRAY(BigInteger)))
    value: ColumnElement[Any] = literal_column("value")
    return column.in_(select(value).select_from(func.json_each(bindparam(name, type_=String))))


class Prepared:
    """One statement compiled for one dialect, with its constant parameters processed."""

    def __init__(
        self, statement: Any, dialect: Dialect, *, given: Iterable[str], ids: Iterable[str] = ()
    ) -> None:
        """``given``: the names of the parameters passed at each execution (ids included)."""
        self._ids = frozenset(ids)
        names = frozenset(given) | self._ids
        compiled = statement.compile(dialect=dialect)
        # Lists of constants (IN (...)) are rendered into the text once, here.
        state = compiled.construct_expanded_state(dict.fromkeys(names))
        self.sql: str = state.statement
        self._positions = tuple(state.positiontup) if state.positiontup is not None else None
        # The expanded state lists only the expanded lists' processors; the others are the
        # compiled statement's (a private attribute, stable through SQLAlchemy 2.x; the
        # tests check that times reach SQLite as its text).
        processors = {**compiled._bind_processors, **state.processors}
        self._processors = {n: p for n, p in processors.items() if n in names}
        self._constants = {
            name: (processors[name](value) if name in processors else value)
            for name, value in state.parameters.items()
            if name not in names
        }
        self._is_sqlite = dialect.name == "sqlite"

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """The rows (tuples) the statement returns."""
        return list(conn.exec_driver_sql(self.sql, self.parameters(params)).all())

    def parameters(self, given: Mapping[str, Any]) -> Any:
        """The driver's parameters: the constants, and ``given`` processed."""
        values = dict(self._constants)
        for name, value in given.items():
            if name in self._ids:
                values[name] = orjson.dumps(list(value)).decode() if self._is_sqlite else value
                continue
            processor = self._processors.get(name)
            values[name] = processor(value) if processor else value
        if self._positions is None:
            return values
        return tuple(values[name] for name in self._positions)
