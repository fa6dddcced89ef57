"""``leadflow import``: contacts and events from files."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from leadflow.activity.import_service import import_events
from leadflow.cli.context import state
from leadflow.cli.output import error_console
from leadflow.contacts.imports import import_contacts, load_mapping
from leadflow.importing.runner import RunStats

app = typer.Typer(help="Import contacts and events from files.", no_args_is_help=True)


class OnError(StrEnum):
    abort = "abort"
    skip = "skip"


class EventFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


FileArgument = Annotated[Path, typer.Argument(help="The file to import.", show_default=False)]
OnErrorOption = Annotated[
    OnError,
    typer.Option(
        "--on-error",
        help="abort: a bad row stores nothing; skip: store the good rows, "
        "write the bad ones to the rejects file.",
    ),
]
RejectsOption = Annotated[
    Path | None,
    typer.Option(help="Where skipped rows go (default: FILE.rejects.csv next to the file)."),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


@app.command("contacts")
def contacts_(
    ctx: typer.Context,
    file: FileArgument,
    mapping: Annotated[
        str,
        typer.Option("--mapping", "-m", help="auto, hubspot, salesforce, or a YAML mapping file."),
    ] = "auto",
    strict: Annotated[
        bool, typer.Option(help="Refuse columns the mapping does not know (default: keep them).")
    ] = False,
    on_error: OnErrorOption = OnError.abort,
    rejects: RejectsOption = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default: by file size).")
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Import contacts from a CSV file (re-importing the same file adds nothing)."""
    ws = state(ctx).workspace()
    spec = load_mapping(mapping, strict=strict)
    with _progress(file, quiet) as progress:
        summary = import_contacts(
            ws.db,
            ws.clock,
            file,
            mapping=spec,
            on_error=on_error.value,
            rejects_path=rejects,
            max_bytes=ws.settings.import_max_bytes,
            default_region=ws.default_phone_region,
            workers=workers,
            progress=progress,
        )
    _report(summary.run, f"{summary.created:,} created, {summary.updated:,} updated")


@app.command("events")
def events_(
    ctx: typer.Context,
    file: FileArgument,
    fmt: Annotated[
        EventFormat | None,
        typer.Option("--format", "-f", help="csv or jsonl (default: from the extension)."),
    ] = None,
    on_error: OnErrorOption = OnError.abort,
    rejects: RejectsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Import activity events from a CSV or JSON lines file (idempotent)."""
    ws = state(ctx).workspace()
    with _progress(file, quiet) as progress:
        summary = import_events(
            ws.db,
            ws.clock,
            file,
            fmt=fmt.value if fmt is not None else None,
            on_error=on_error.value,
            rejects_path=rejects,
            max_bytes=ws.settings.import_max_bytes,
            progress=progress,
        )
    _report(
        summary.run,
        f"{summary.recorded:,} recorded, {summary.duplicates:,} already stored, "
        f"{summary.contacts_created:,} new contacts",
    )


def _report(run: RunStats, outcome: str) -> None:
    typer.echo(
        f"imported {run.path.name}: {run.rows:,} rows read, {outcome}, "
        f"{run.rejected:,} rejected in {run.seconds:.1f} s"
    )
    if run.rejected and run.rejects_path is not None:
        shown = ", ".join(map(str, run.first_rows)) + (", ..." if run.rejected > 5 else "")
        typer.echo(f"rejected rows ({shown}) written to {run.rejects_path}")


@contextmanager
def _progress(file: Path, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    """A progress bar over the file's bytes, on stderr, only for a person at a terminal."""
    if quiet or not sys.stderr.isatty() or not file.is_file():
        yield None
        return
    bar = Progress(
        TextColumn("importing {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=error_console(),
        transient=True,
    )
    with bar:
        task = bar.add_task(file.name, total=file.stat().st_size)
        yield lambda done: bar.update(task, completed=done)
