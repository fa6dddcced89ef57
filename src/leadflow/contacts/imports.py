"""``import contacts``: a CSV file into contacts, accounts and touches.

Each row is mapped (:mod:`leadflow.contacts.mapping`) and prepared by the same pure engine a
single capture uses, then written in batches through :func:`upsert_rows` (the batch writer
under :func:`upsert_contacts`), so identity resolution works exactly as for any capture: a
known email, phone or id updates its contact.
Each row's touch carries an idempotency key derived from the row's content, so importing
the same file again adds neither contacts nor touches.

The whole import is one transaction (see :mod:`leadflow.importing.runner`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection

from leadflow.clock import Clock
from leadflow.contacts.engine import prepare_contact, prepare_touch
from leadflow.contacts.mapping import (
    PRESETS,
    MappingError,
    MappingSpec,
    RowMapper,
    resolve,
    validate_target,
)
from leadflow.contacts.service import CaptureRow, Written, capture_row, upsert_rows
from leadflow.errors import InputFileError, ValidationError
from leadflow.importing.runner import ImportRun, OnError, Rejected, RunStats, run_import
from leadflow.importing.sources import CsvSource, SourceRow, check_file
from leadflow.storage.database import Database

# Below this size a process pool costs more to start than it saves.
POOL_MIN_BYTES = 8 * 1024 * 1024

# Fields the engine names in its errors -> the mapping field whose column to report.
_ENGINE_FIELDS = {
    "company_name": "company",
    "account.domain": "website",
    "account.name": "company",
    "account.industry": "industry",
    "account.employee_count": "employees",
    "account.annual_revenue": "annual_revenue",
    "account.country": "country",
    "occurred_at": "created_at",
}

# A prepared file row: its number and one capture per touch (one without a touch if it
# has none). Plain tuples, built in the worker, so this process only unpickles and writes.
PreparedRow = tuple[int, tuple[CaptureRow, ...]]


@dataclass(frozen=True)
class ContactImportSummary:
    created: int  # new contacts
    updated: int  # rows that landed on a contact that already existed
    run: RunStats  # rows read and rejected, time, rejects file


@dataclass
class _Counts:
    created: int = 0
    updated: int = 0


@dataclass(frozen=True)
class PrepareJob:
    """Everything a worker process needs to prepare rows; pickled once per chunk."""

    mapper: RowMapper
    now: datetime
    default_region: str | None = None


def load_mapping(value: str, *, strict: bool = False) -> MappingSpec:
    """A preset name (``auto``, ``hubspot``, ``salesforce``) or the path of a YAML file."""
    if value in PRESETS:
        return MappingSpec(preset=value, strict=strict)
    path = Path(value)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputFileError(
            f"is neither a preset ({', '.join(PRESETS)}) nor a readable mapping file "
            f"({exc.strerror})",
            path=value,
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        raise InputFileError(f"is not valid YAML: {exc}", path=value, row=row) from None
    return _spec_from_yaml(data, value, strict=strict)


def _spec_from_yaml(data: Any, path: str, *, strict: bool) -> MappingSpec:
    if not isinstance(data, dict) or not isinstance(data.get("columns", {}), dict):
        raise InputFileError("must be a mapping with a 'columns' mapping", path=path)
    known = {"preset", "columns", "strict", "channels", "default_channel", "date_format"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputFileError(f"unknown keys {unknown}; expected {sorted(known)}", path=path)
    columns = {str(k): str(v) for k, v in (data.get("columns") or {}).items()}
    for column, target in columns.items():
        try:
            validate_target(target)
        except ValueError as exc:
            raise InputFileError(str(exc), path=path, column=column) from None
    preset = str(data.get("preset", "auto"))
    if preset not in PRESETS:
        raise InputFileError(f"preset must be one of {', '.join(PRESETS)}", path=path)
    return MappingSpec(
        preset=preset,
        columns=columns,
        strict=strict or bool(data.get("strict", False)),
        channels={str(k): str(v) for k, v in (data.get("channels") or {}).items()},
        default_channel=str(data.get("default_channel", "import")),
        date_format=data.get("date_format"),
    )


def import_contacts(
    db: Database,
    clock: Clock,
    path: Path,
    *,
    mapping: MappingSpec | None = None,
    on_error: OnError = "abort",
    rejects_path: Path | None = None,
    max_bytes: int,
    default_region: str | None = None,
    workers: int | None = None,
    progress: Any = None,
) -> ContactImportSummary:
    """Import a contacts CSV; see the module docstring. ``progress(bytes_read)`` if given."""
    size = check_file(path, max_bytes=max_bytes)
    now = clock.now()
    with open(path, "rb") as handle:
        source = CsvSource(path, handle)
        try:
            mapper = resolve(source.header, mapping or MappingSpec())
        except MappingError as exc:
            raise InputFileError(str(exc), path=str(path), row=1, column=exc.column) from None
        job = PrepareJob(mapper=mapper, now=now, default_region=default_region)
        counts = _Counts()
        run = ImportRun(
            path=path,
            header=source.header,
            on_error=on_error,
            rejects_path=rejects_path,
            workers=workers if workers is not None else _workers_for(size),
            progress=progress,
        )
        stats = run_import(
            db,
            source,
            run,
            prepare=partial(prepare_rows, job),
            write=partial(_write, now=now, counts=counts, written=Written()),
            bytes_read=lambda: source.bytes_read,
        )
    return ContactImportSummary(created=counts.created, updated=counts.updated, run=stats)


def _workers_for(size: int) -> int:
    return max(1, os.cpu_count() or 1) if size >= POOL_MIN_BYTES else 1


def prepare_rows(job: PrepareJob, rows: list[SourceRow]) -> list[PreparedRow | Rejected]:
    """Map and validate a chunk of rows (pure; runs in worker processes for big files)."""
    return [_prepare_row(job, row) for row in rows]


def _prepare_row(job: PrepareJob, source: SourceRow) -> PreparedRow | Rejected:
    if source.problem is not None:
        return Rejected(source.row, source.cells, None, source.problem)
    try:
        mapped = job.mapper.map(source.cells, default_region=job.default_region)
    except ValidationError as exc:  # the mapper names the column itself
        return Rejected(source.row, source.cells, exc.field, exc.reason)
    try:
        contact = prepare_contact(mapped.contact)
        touches = tuple(prepare_touch(t, now=job.now) for t in mapped.touches)
    except ValidationError as exc:
        return Rejected(source.row, source.cells, _column(job.mapper, exc.field), exc.reason)
    if mapped.extra_identities:
        contact = replace(contact, identities=(*contact.identities, *mapped.extra_identities))
    return (source.row, tuple([capture_row(contact, t) for t in touches or (None,)]))


def _column(mapper: RowMapper, engine_field: str | None) -> str | None:
    if engine_field is None:
        return None
    target = _ENGINE_FIELDS.get(engine_field, engine_field)
    return mapper.column_of(target) or engine_field


def _write(
    conn: Connection,
    items: list[PreparedRow],
    *,
    now: datetime,
    counts: _Counts,
    written: Written,
) -> None:
    rows: list[CaptureRow] = []
    first_capture: list[int] = []
    for _, captures in items:
        first_capture.append(len(rows))
        rows.extend(captures)
    batch = upsert_rows(conn, rows, now=now, written=written)
    counted: set[int] = set()
    created = batch.created
    for index in first_capture:
        contact_id = batch.contact_ids[index]
        if contact_id in created and contact_id not in counted:
            counts.created += 1
        else:
            counts.updated += 1
        counted.add(contact_id)
