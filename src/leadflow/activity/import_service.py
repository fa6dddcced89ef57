"""``import events``: a CSV or JSON lines file into the activity log.

Rows are parsed by :mod:`leadflow.activity.imports` (pure), validated by the same
:func:`prepare_event` as any capture, and recorded in batches through
:func:`record_prepared`, all in one transaction. Recording is idempotent, so importing the
same file twice stores each event once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import Connection, or_, select

from leadflow.activity.engine import PreparedEvent, prepare_event
from leadflow.activity.imports import (
    EventColumns,
    event_from_cells,
    event_from_record,
    resolve_columns,
)
from leadflow.activity.service import record_prepared
from leadflow.clock import Clock
from leadflow.contacts.models import contacts
from leadflow.errors import ContactErased, InputFileError, ValidationError
from leadflow.importing.runner import ImportRun, OnError, Rejected, RunStats, run_import
from leadflow.importing.sources import CsvSource, JsonLinesSource, SourceRow, check_file
from leadflow.privacy.tombstones import is_erased
from leadflow.storage.database import Database
from leadflow.storage.sql import chunked

EventFormat = Literal["csv", "jsonl"]
_SUFFIXES: dict[str, EventFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}

PreparedRow = tuple[SourceRow, PreparedEvent, str | None]  # with the contact_id column


@dataclass(frozen=True)
class EventImportSummary:
    recorded: int  # newly stored events
    duplicates: int  # events already stored (same idempotency key)
    contacts_created: int
    run: RunStats  # rows read and rejected, time, rejects file


@dataclass
class _Counts:
    recorded: int = 0
    duplicates: int = 0
    contacts_created: int = 0


def event_format(path: Path, given: str | None = None) -> EventFormat:
    """The format named, or the one the file's extension says."""
    if given is not None:
        if given not in ("csv", "jsonl"):
            raise ValidationError(f"{given!r} is not csv or jsonl", field="format")
        return "csv" if given == "csv" else "jsonl"
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise InputFileError(
            "cannot tell the format from the extension; give --format csv or jsonl",
            path=str(path),
        )
    return found


def import_events(
    db: Database,
    clock: Clock,
    path: Path,
    *,
    fmt: EventFormat | None = None,
    on_error: OnError = "abort",
    rejects_path: Path | None = None,
    max_bytes: int,
    progress: Any = None,
) -> EventImportSummary:
    """Import an events file; ``progress(bytes_read)`` is called as it goes, if given."""
    kind = event_format(path, fmt)
    check_file(path, max_bytes=max_bytes)
    now = clock.now()
    counts = _Counts()
    with open(path, "rb") as handle:
        source, header, columns = _open(path, handle, kind)
        run = ImportRun(
            path=path,
            header=header,
            on_error=on_error,
            rejects_path=rejects_path,
            rejects_format=kind,
            progress=progress,
        )
        stats = run_import(
            db,
            source,
            run,
            prepare=partial(prepare_rows, columns, now),
            write=partial(_write, now=now, counts=counts),
            bytes_read=lambda: source.bytes_read,
        )
    return EventImportSummary(
        recorded=counts.recorded,
        duplicates=counts.duplicates,
        contacts_created=counts.contacts_created,
        run=stats,
    )


def _open(
    path: Path, handle: IO[bytes], kind: EventFormat
) -> tuple[CsvSource | JsonLinesSource, list[str], EventColumns | None]:
    if kind == "jsonl":
        return JsonLinesSource(path, handle), [], None
    source = CsvSource(path, handle)
    try:
        columns = resolve_columns(source.header)
    except ValueError as exc:
        raise InputFileError(str(exc), path=str(path), row=1) from None
    return source, source.header, columns


def prepare_rows(
    columns: EventColumns | None, now: datetime, rows: list[SourceRow]
) -> list[PreparedRow | Rejected]:
    """Parse and validate a chunk of rows or lines (pure)."""
    return [_prepare_row(columns, now, row) for row in rows]


def _prepare_row(columns: EventColumns | None, now: datetime, row: SourceRow) -> Any:
    if row.problem is not None:
        return Rejected(row.row, row.cells, None, row.problem, row.record)
    try:
        if columns is None:
            assert row.record is not None, "a JSON line without problems parsed"
            event = event_from_record(row.record)
        else:
            event = event_from_cells(columns, row.cells)
        prepared = prepare_event(event, now=now)
    except ValidationError as exc:
        column = columns.column_of(exc.field) if columns is not None else exc.field
        return Rejected(row.row, row.cells, column, exc.reason, row.record)
    contact_column = columns.column_of("contact_id") if columns is not None else "contact_id"
    return (row, prepared, contact_column)


def _write(
    conn: Connection, items: list[PreparedRow], *, now: datetime, counts: _Counts
) -> list[Rejected]:
    """Record the batch; rows naming a contact id that does not exist, or an erased
    person's contact (which takes no new data), are given back."""
    known, erased = _existing_contacts(conn, {p.contact_id for _, p, _ in items if p.contact_id})
    good: list[PreparedEvent] = []
    refused: list[Rejected] = []
    for row, prepared, column in items:
        contact_id = prepared.contact_id
        if contact_id is None or (contact_id in known and contact_id not in erased):
            good.append(prepared)
            continue
        reason = (
            f"no contact with id {contact_id}"
            if contact_id not in known
            else ContactErased(contact_id).message
        )
        refused.append(Rejected(row.row, row.cells, column, reason, row.record))
    result = record_prepared(conn, good, now=now)
    counts.recorded += result.recorded
    counts.duplicates += result.duplicates
    counts.contacts_created += result.contacts_created
    return refused


def _existing_contacts(conn: Connection, ids: set[int]) -> tuple[set[int], set[int]]:
    """The ids that exist, and those of them erased (or merged into an erased contact)."""
    found: set[int] = set()
    erased: set[int] = set()
    gone = or_(is_erased(contacts.c.id), is_erased(contacts.c.merged_into_id))
    for chunk in chunked(sorted(ids)):
        rows = conn.execute(select(contacts.c.id, gone).where(contacts.c.id.in_(chunk)))
        for contact_id, is_gone in rows:
            found.add(contact_id)
            if is_gone:
                erased.add(contact_id)
    return found, erased
