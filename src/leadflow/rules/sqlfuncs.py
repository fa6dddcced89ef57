"""Portable SQL pieces for the compiler, rendered per dialect (SQLite and PostgreSQL).

Each construct implements one rule of ``docs/conditions.md`` identically on both databases:
ASCII-only case folding, JSON property access by JSON type (a number is never text), substring
tests without LIKE (whose case rules differ between the two), and regular expressions through
the pattern rendered for each engine.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, String, literal, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from leadflow.rules.ast import Regex
from leadflow.rules.vocabulary import PROPERTY_KEY

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class AsciiLower(FunctionElement[str]):
    """A-Z to a-z and nothing else: SQLite's lower() does exactly this, PostgreSQL's lower()
    follows the locale, so PostgreSQL gets translate()."""

    type = String()
    inherit_cache = True


class TextContains(FunctionElement[bool]):
    """``haystack`` contains ``needle``, case-sensitively (callers fold both first)."""

    type = Boolean()
    inherit_cache = True


class RegexSearch(FunctionElement[bool]):
    """The value matches the pattern somewhere; each engine gets its own rendering."""

    type = Boolean()
    inherit_cache = True

    def __init__(self, value: ColumnElement[Any], pattern: Regex) -> None:
        super().__init__(value, literal(pattern.python), literal(pattern.postgres))


class _JsonAccess(FunctionElement[Any]):
    """One key of a JSON object column. The key is spliced into the SQL text (JSON paths
    cannot be bound on SQLite), which is safe because the parser only lets through keys
    of letters, digits, ``_`` and ``-``; the check is repeated here as a last line.

    Each subclass gives one template per dialect: ``{c}`` is the column, ``{k}`` the key and
    ``{p}`` SQLite's JSON path to it."""

    inherit_cache = True
    sqlite: str
    postgresql: str

    def __init__(self, column: ColumnElement[Any], key: str) -> None:
        if not PROPERTY_KEY.fullmatch(key):
            raise ValueError(f"unsafe property key {key!r}")
        # literal_column: the key is part of the statement's cache key, unlike a bound value.
        super().__init__(column, literal_column(key))


class JsonText(_JsonAccess):
    """The value when it is a JSON string, else NULL."""

    type = String()
    inherit_cache = True
    sqlite = "CASE WHEN json_type({c}, {p}) = 'text' THEN json_extract({c}, {p}) END"
    postgresql = "CASE WHEN json_typeof({c} -> '{k}') = 'string' THEN {c} ->> '{k}' END"


class JsonNumber(_JsonAccess):
    """The value as a 64-bit float when it is a JSON number, else NULL."""

    type = Float()
    inherit_cache = True
    sqlite = (
        "CASE WHEN json_type({c}, {p}) IN ('integer', 'real') "
        "THEN CAST(json_extract({c}, {p}) AS REAL) END"
    )
    # CASE, not AND: PostgreSQL does not promise to test the type before casting.
    postgresql = (
        "CASE WHEN json_typeof({c} -> '{k}') = 'number' "
        "THEN CAST({c} ->> '{k}' AS DOUBLE PRECISION) END"
    )


class JsonBoolean(_JsonAccess):
    """``'true'`` or ``'false'`` when the value is a JSON boolean, else NULL."""

    type = String()
    inherit_cache = True
    sqlite = "CASE json_type({c}, {p}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END"
    postgresql = "CASE WHEN json_typeof({c} -> '{k}') = 'boolean' THEN {c} ->> '{k}' END"


class JsonPresent(_JsonAccess):
    """The key exists and its value is not JSON null."""

    type = Boolean()
    inherit_cache = True
    sqlite = "(coalesce(json_type({c}, {p}), 'null') <> 'null')"
    postgresql = "(coalesce(json_typeof({c} -> '{k}'), 'null') <> 'null')"


def _args(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses.clauses]


@compiles(AsciiLower, "sqlite")
def _lower_sqlite(element: AsciiLower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({_args(element, compiler, **kw)[0]})"


@compiles(AsciiLower, "postgresql")
def _lower_pg(element: AsciiLower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"translate({_args(element, compiler, **kw)[0]}, '{_UPPER}', '{_UPPER.lower()}')"


@compiles(TextContains, "sqlite")
def _contains_sqlite(element: TextContains, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = _args(element, compiler, **kw)
    return f"(instr({haystack}, {needle}) > 0)"


@compiles(TextContains, "postgresql")
def _contains_pg(element: TextContains, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = _args(element, compiler, **kw)
    return f"(strpos({haystack}, {needle}) > 0)"


@compiles(RegexSearch, "sqlite")
def _regex_sqlite(element: RegexSearch, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy's pysqlite dialect registers regexp(pattern, value) as Python's re.search
    # on every connection; the Python rendering of the pattern is the one it needs.
    value, python, _ = element.clauses.clauses
    return f"({compiler.process(value, **kw)} REGEXP {compiler.process(python, **kw)})"


@compiles(RegexSearch, "postgresql")
def _regex_pg(element: RegexSearch, compiler: SQLCompiler, **kw: Any) -> str:
    value, _, postgres = element.clauses.clauses
    return f"({compiler.process(value, **kw)} ~ {compiler.process(postgres, **kw)})"


def _json(element: _JsonAccess, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = element.clauses.clauses
    template: str = getattr(element, compiler.dialect.name)
    name = str(key.name)
    return template.format(c=compiler.process(column, **kw), k=name, p=f"'$.\"{name}\"'")


for _access in (JsonText, JsonNumber, JsonBoolean, JsonPresent):
    compiles(_access, "sqlite")(_json)
    compiles(_access, "postgresql")(_json)
