"""The import loop: read rows in chunks, prepare them (in worker processes for big files),
write the good ones in batches inside ONE transaction, and deal with the bad ones.

``on_error="abort"``: the first bad row raises :class:`InputFileError` naming the file, row
and column, and the transaction rolls back: nothing is stored.
``on_error="skip"``: bad rows go to a rejects file and the good rows are committed.
A problem that makes the rest of the file unreadable aborts in both modes.

Preparing (validation, normalisation) is pure and CPU-bound, so large files spread it over
a process pool while this process writes; chunks come back in file order, so the first
error reported is the first one in the file, and later rows win over earlier ones as they
would in a single process. At most a few chunks are in flight: memory stays bounded
whatever the file size. A CSV file goes to the pool as raw bytes cut at record ends
(:meth:`CsvSource.raw_chunks`) and is parsed there too: the writing process is the one
that limits a big import, and reading, decoding and pickling rows was a tenth of its work.
"""

from __future__ import annotations

import csv
import gc
import json
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

from sqlalchemy import Connection

from leadflow.errors import InputFileError
from leadflow.importing.sources import ChunkCut, CsvChunkParser, CsvSource, RawChunk, SourceRow
from leadflow.storage.database import Database

OnError = Literal["abort", "skip"]
ON_ERROR = ("abort", "skip")
# Rows prepared and written together. Each batch has fixed costs in the writing process
# (identity and account look-ups, id allocation, one executemany per table): on the bench's
# 1,000,000 rows, 6,000-row batches took about 7% less writer CPU than 2,000-row ones. At
# most 3 chunks per process are in flight, so memory stays a few tens of MB.
CHUNK_ROWS = 5000
# SQLite's page cache for an import's transaction, in KiB (a negative cache_size). The
# default 2 MB is far smaller than the indexes a big import inserts into in random order
# (emails, identity values, touch keys), so each insert would fetch pages again.
IMPORT_CACHE_KIB = 256 * 1024
# How long the writing process waits for the pool's oldest chunk before it prepares the next
# chunk itself. Writing is the slower half of a big import, so the writer helps only when
# the pool is clearly behind (while it starts, say), not on every small delay.
HELP_AFTER = 0.05
# The cyclic garbage collector's first threshold while importing (Python's default: 700).
# Young objects that live are mostly the chunks in flight, so each collection scans them
# again: at 100,000 the writer ran 38 collections costing 1.5 s per 1,000,000 rows, at
# 1,000,000 it runs 20 costing 0.2 s. The cycles an import leaves (~60,000 objects per
# million rows, seen with collection off) are still collected.
GC_THRESHOLD = 1_000_000
# Columns leadflow adds to a rejects file; importers ignore columns named leadflow_*, so a
# corrected rejects file can be imported as it is.
REJECT_COLUMNS = ("leadflow_row", "leadflow_error")


class Rejected(NamedTuple):
    """A row that cannot be imported, and why."""

    row: int
    cells: list[str]
    column: str | None
    reason: str
    record: dict[str, Any] | None = None  # JSON lines: the parsed object, if it parsed

    def message(self) -> str:
        return f"column {self.column!r}: {self.reason}" if self.column else self.reason


Prepare = Callable[[Sequence[SourceRow]], list[Any]]  # items or Rejected, in row order
# Writes a batch; may give back rows only storage could judge (a contact id that is unknown).
Write = Callable[[Connection, list[Any]], Sequence[Rejected] | None]


@dataclass
class ImportRun:
    """What the loop needs besides the rows: where they come from and where bad ones go."""

    path: Path
    header: list[str]
    on_error: OnError = "abort"
    rejects_path: Path | None = None
    rejects_format: Literal["csv", "jsonl"] = "csv"
    workers: int = 1
    chunk_rows: int = CHUNK_ROWS
    progress: Callable[[int], None] | None = None


@dataclass
class RunStats:
    path: Path
    rows: int = 0
    rejected: int = 0
    seconds: float = 0.0
    rejects_path: Path | None = None
    first_rows: list[int] = field(default_factory=list)  # rows of the first few rejects


def default_rejects_path(path: Path, suffix: str = ".csv") -> Path:
    """``leads.csv`` -> ``leads.rejects.csv``, next to the input."""
    return path.with_name(f"{path.stem}.rejects{suffix}")


def run_import(
    db: Database,
    rows: Iterable[SourceRow],
    run: ImportRun,
    *,
    prepare: Prepare,
    write: Write,
    bytes_read: Callable[[], int],
) -> RunStats:
    """Prepare and write every row of ``rows`` in one transaction; return the counts."""
    if run.on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {run.on_error!r}")
    stats = RunStats(path=run.path)
    started = time.perf_counter()
    rejects = _RejectsFile(run) if run.on_error == "skip" else None
    try:
        with (
            _few_collections(),
            db.write(check_references=False) as conn,
            _page_cache(conn, IMPORT_CACHE_KIB),
        ):
            for outcomes in _outcomes(rows, run, prepare, stats):
                good = [o for o in outcomes if not isinstance(o, Rejected)]
                for bad in (o for o in outcomes if isinstance(o, Rejected)):
                    _reject(bad, run, rejects, stats)
                if good:
                    for bad in write(conn, good) or ():
                        _reject(bad, run, rejects, stats)
                if run.progress is not None:
                    run.progress(bytes_read())
    except BaseException:
        if rejects is not None:
            rejects.discard()  # nothing was committed, so no row was rejected either
        raise
    if rejects is not None:
        stats.rejects_path = rejects.close()
    stats.seconds = time.perf_counter() - started
    return stats


@contextmanager
def _few_collections() -> Iterator[None]:
    """Collect cycles rarely while importing; restore the collector afterwards.

    An import allocates millions of short-lived, acyclic objects (rows, dicts, tuples); with
    the default thresholds the collector runs every 700 allocations and rescans what lives
    on, which measured a third of the time spent preparing and unpickling rows.
    """
    old = gc.get_threshold()
    gc.freeze()  # what exists before the import is not rescanned during it
    gc.set_threshold(GC_THRESHOLD, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def _worker_start() -> None:
    # Worker processes only prepare rows: the same reasoning as _few_collections.
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


@contextmanager
def _page_cache(conn: Connection, kib: int) -> Iterator[None]:
    """A bigger SQLite page cache for the import's transaction, then the old size again."""
    if conn.dialect.name != "sqlite":
        yield
        return
    old = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = {-int(kib)}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(old or -2000)}")


def _chunks(rows: Iterable[SourceRow], size: int, stats: RunStats) -> Iterator[list[SourceRow]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        stats.rows += len(chunk)
        yield chunk


def _reject(bad: Rejected, run: ImportRun, rejects: _RejectsFile | None, stats: RunStats) -> None:
    if rejects is None:
        raise InputFileError(bad.reason, path=str(run.path), row=bad.row, column=bad.column)
    rejects.write(bad)
    stats.rejected += 1
    if len(stats.first_rows) < 5:
        stats.first_rows.append(bad.row)


def _outcomes(
    rows: Iterable[SourceRow], run: ImportRun, prepare: Prepare, stats: RunStats
) -> Iterator[list[Any]]:
    """Prepared chunks in file order: from raw CSV chunks when a pool parses them."""
    if run.workers <= 1:
        for chunk in _chunks(rows, run.chunk_rows, stats):
            yield prepare(chunk)
        return
    with _pool(run.workers) as pool:
        if isinstance(rows, CsvSource):
            yield from _prepared_raw(rows, run, prepare, pool, stats)
        else:
            yield from _prepared(_chunks(rows, run.chunk_rows, stats), prepare, pool, run.workers)


@contextmanager
def _pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    # spawn, not fork: the parent holds a database connection and threads.
    pool = ProcessPoolExecutor(
        workers - 1, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _prepared(
    chunks: Iterator[list[SourceRow]], prepare: Prepare, pool: ProcessPoolExecutor, workers: int
) -> Iterator[list[Any]]:
    """Prepared chunks of rows in file order, from the pool's processes and this one."""

    def send(chunk: list[SourceRow]) -> Future[list[Any]]:
        return pool.submit(_prepare_plain, prepare, [tuple(r) for r in chunk])

    for _, future in _in_order(chunks, send, prepare, workers):
        yield future.result()


def _prepared_raw(
    source: CsvSource, run: ImportRun, prepare: Prepare, pool: ProcessPoolExecutor, stats: RunStats
) -> Iterator[list[Any]]:
    """:func:`_prepared` for a CSV file the pool also parses, cut by ``raw_chunks``.

    If a chunk turns out not to end where a record ends (:class:`ChunkCut`), the chunks
    after it are dropped and the file is read on from it in this process, as rows.
    """
    job = partial(_prepare_raw, prepare, source.parser)

    def send(raw: RawChunk) -> Future[list[Any]]:
        return pool.submit(job, raw)

    in_order = _in_order(source.raw_chunks(run.chunk_rows), send, job, run.workers)
    for raw, future in in_order:
        try:
            outcomes = future.result()
        except ChunkCut:
            in_order.close()  # cancels the chunks after this one
            rest = _chunks(source.rows_from(raw), run.chunk_rows, stats)
            yield from _prepared(rest, prepare, pool, run.workers)
            return
        stats.rows += len(outcomes)
        yield outcomes


def _in_order(
    chunks: Iterator[Any],
    send: Callable[[Any], Future[list[Any]]],
    here: Callable[[Any], list[Any]],
    workers: int,
) -> Generator[tuple[Any, Future[list[Any]]], None, None]:
    """Each chunk with the future of its outcomes, in file order.

    ``send`` hands a chunk to the pool; ``here`` prepares one in this process, which
    writes: whenever the pool's oldest chunk is more than a moment late, this process
    prepares the next chunk itself rather than wait, so on two cores one pool process and
    this one keep both busy. Only the pool's unfinished chunks count against its queue, so
    chunks prepared here never leave it idle; at most ``cap`` chunks are in flight in all,
    so memory stays bounded.
    """
    limit, cap = 3 * workers, 6 * workers
    pending: deque[tuple[Any, Future[list[Any]]]] = deque()
    try:
        while True:
            while (
                sum(1 for _, f in pending if not f.done()) < limit
                and len(pending) < cap
                and (chunk := next(chunks, None)) is not None
            ):
                pending.append((chunk, send(chunk)))
            if not pending:
                return
            if not _ready(pending[0][1]) and len(pending) < cap:
                chunk = next(chunks, None)
                if chunk is not None:
                    pending.append((chunk, _here(here, chunk)))
                    continue
            yield pending.popleft()
    finally:
        for _, future in pending:
            future.cancel()


def _ready(future: Future[Any]) -> bool:
    """Whether ``future`` is done or soon will be (waiting ``HELP_AFTER`` seconds)."""
    return future.done() or not wait([future], timeout=HELP_AFTER).not_done


def _prepare_raw(prepare: Prepare, parser: CsvChunkParser, raw: RawChunk) -> list[Any]:
    return prepare(parser(raw))


def _prepare_plain(prepare: Prepare, rows: list[tuple[Any, ...]]) -> list[Any]:
    """Prepare rows sent as plain tuples: a named tuple pickles through a Python call per
    row, which costs this process (the writer) twice as much as a plain one."""
    return prepare([SourceRow._make(r) for r in rows])


def _here(prepare: Callable[[Any], list[Any]], chunk: Any) -> Future[list[Any]]:
    """Prepare a chunk in this process, as a finished future among the pool's."""
    future: Future[list[Any]] = Future()
    try:
        future.set_result(prepare(chunk))
    except Exception as exc:  # raised in file order, like a pool process's error
        future.set_exception(exc)
    return future


class _RejectsFile:
    """The rejects file, opened on the first reject so a clean import leaves none behind."""

    def __init__(self, run: ImportRun) -> None:
        suffix = ".jsonl" if run.rejects_format == "jsonl" else ".csv"
        self.path = run.rejects_path or default_rejects_path(run.path, suffix)
        self._format = run.rejects_format
        self._header = run.header
        self._handle: IO[str] | None = None
        self._writer: Any = None

    def write(self, bad: Rejected) -> None:
        if self._handle is None:
            self._open()
        assert self._handle is not None
        if self._format == "jsonl":
            record: dict[str, Any] = (
                dict(bad.record) if bad.record is not None else {"leadflow_line": bad.cells[0]}
            )
            record.update(leadflow_row=bad.row, leadflow_error=bad.message())
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            self._writer.writerow([bad.row, bad.message(), *bad.cells])

    def _open(self) -> None:
        try:
            self._handle = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as exc:
            raise InputFileError(
                f"cannot write rejects: {exc.strerror}", path=str(self.path)
            ) from None
        if self._format == "csv":
            self._writer = csv.writer(self._handle)
            self._writer.writerow([*REJECT_COLUMNS, *self._header])

    def close(self) -> Path | None:
        if self._handle is None:
            return None
        self._handle.close()
        return self.path

    def discard(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self.path.unlink(missing_ok=True)
