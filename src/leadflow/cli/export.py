"""``leadflow export``: contacts to files."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from leadflow.cli.context import state
from leadflow.contacts.export import export_contacts
from leadflow.errors import LeadflowError

app = typer.Typer(help="Export contacts.", no_args_is_help=True)


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


@app.command("contacts")
def contacts_(
    ctx: typer.Context,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="csv or jsonl.")] = (
        ExportFormat.csv
    ),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Export every contact with identities, properties, account and first/last touch."""
    db = state(ctx).workspace().db
    if output is None:
        export_contacts(db, sys.stdout, fmt.value)
        return
    try:
        with open(output, "w", encoding="utf-8", newline="") as out:
            count = export_contacts(db, out, fmt.value)
    except OSError as exc:
        raise LeadflowError(f"{output}: cannot write: {exc.strerror}") from None
    typer.echo(f"exported {count:,} contacts to {output}", err=True)
