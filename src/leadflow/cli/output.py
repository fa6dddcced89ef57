"""Rendering rows as a rich table, JSON or CSV: every listing offers all three."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def console() -> Console:
    return Console()


def error_console() -> Console:
    return Console(stderr=True)


def render(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: Format,
    *,
    title: str | None = None,
) -> None:
    if fmt is Format.json:
        json.dump(
            [{c: row.get(c) for c in columns} for row in rows],
            sys.stdout,
            default=_json_default,
            indent=2,
        )
        sys.stdout.write("\n")
    elif fmt is Format.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
    else:
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(_cell(row.get(c)) for c in columns))
        console().print(table)


def render_one(record: Mapping[str, Any], fmt: Format) -> None:
    """One record: JSON as an object; a table as field/value pairs."""
    if fmt is Format.json:
        json.dump(record, sys.stdout, default=_json_default, indent=2)
        sys.stdout.write("\n")
        return
    rows = [{"field": k, "value": _cell(v)} for k, v in record.items()]
    render(rows, ("field", "value"), fmt)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json_default, sort_keys=True)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    if isinstance(value, Decimal):
        # Money read from PostgreSQL's NUMERIC: a JSON number when a float holds it exactly,
        # else its text, so no digit is lost.
        number = float(value)
        return number if Decimal(repr(number)) == value else str(value)
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def refuse_file(
    exc: Exception,
    *,
    file: str,
    thing: str,
    active: str | None,
    none_active: str,
    unchanged: str = "",
) -> NoReturn:
    """A workspace file that was not activated: every problem on its own line (loaders
    collect them in ``problems``), then which version of ``thing`` stays active; exit 1."""
    err = error_console()
    for problem in getattr(exc, "problems", (exc,)):
        err.print(f"[bold red]error[/]: {problem}", highlight=False, soft_wrap=True)
    stays = f"{thing} {active} stays active" if active else none_active
    tail = f"; {unchanged}" if unchanged else ""
    err.print(f"{file} not activated; {stays}{tail}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)
