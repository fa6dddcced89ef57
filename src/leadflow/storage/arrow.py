"""Whole-table reads from SQLite into arrays, through ADBC in child processes.

Python's ``sqlite3`` builds a Python object per value: 20 million activities take ~17 s to
fetch before any work is done. ADBC's SQLite driver writes the rows into Arrow arrays in C.
The driver brings its own copy of SQLite, which must not share a process with the
``sqlite3`` module's copy on the same file (see :mod:`leadflow.storage.arrow_reader`), so
each part of the read runs in a child process, over its own range of ids, and hands its
result back as an Arrow IPC file that the parent maps into memory (no copy).

The children see what is committed: a caller holding the write lock (``Database.write``
begins IMMEDIATE) reads exactly what its transaction sees, provided it has not changed the
table itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from leadflow.errors import StorageError

_READER = Path(__file__).with_name("arrow_reader.py")


class IntColumns:
    """A read running in child processes: :meth:`result` waits for it. The caller works on
    meanwhile (the children take their own cores)."""

    def __init__(
        self,
        database: str,
        sql: str,
        low: int,
        high: int,
        *,
        times: Sequence[str] = (),
        codes: Mapping[str, Sequence[str]] | None = None,
        parts: int = 2,
    ) -> None:
        """``sql`` has ``:low`` and ``:high`` where each part's bounds go and orders by id;
        every column it selects must be a non-null integer, or one of ``times`` (stored UTC
        text, read as microseconds since the epoch), or of ``codes`` (read as the value's
        position in its list; a value not listed is an error). Ids in (low, high] are
        read."""
        self._database = database
        self._folder = tempfile.TemporaryDirectory(prefix="leadflow-read-")
        bounds = [low + (high - low) * k // parts for k in range(parts)] + [high]
        self._targets = [str(Path(self._folder.name) / f"part{k}.arrow") for k in range(parts)]
        self._children = []
        try:
            for target, start, end in zip(self._targets, bounds, bounds[1:], strict=False):
                ranged = sql.replace(":low", str(start)).replace(":high", str(end))
                request = {"sql": ranged, "times": list(times), "codes": dict(codes or {})}
                query = Path(target).with_suffix(".json")
                query.write_text(json.dumps(request))
                self._children.append(_start(database, target, query))
        except BaseException:
            self.close()
            raise

    def result(self) -> list[NDArray[np.int64]]:
        """The columns, in id order."""
        import pyarrow as pa  # the bulk path's only: `import leadflow` stays light

        try:
            for child in self._children:
                _wait(self._database, child)
            tables = [pa.ipc.open_file(pa.memory_map(t)).read_all() for t in self._targets]
            table = pa.concat_tables(tables)
            # Copied out of the mapped files before the folder goes.
            columns = []
            for i in range(table.num_columns):
                column = table.column(i)
                if column.null_count:
                    name = table.schema.names[i]
                    raise StorageError(f"database {self._database}: {name} has values not read")
                # One copy: each part viewed in its mapped file, joined into new memory
                # (np.concatenate copies even a single part).
                parts = [chunk.to_numpy().astype(np.int64, copy=False) for chunk in column.chunks]
                columns.append(np.concatenate(parts) if parts else np.empty(0, dtype=np.int64))
            return columns
        finally:
            self.close()

    def close(self) -> None:
        for child in self._children:
            if child.poll() is None:
                child.kill()
            child.wait()
            if child.stderr is not None:
                child.stderr.close()
        self._folder.cleanup()


def _start(database: str, target: str, query: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(_READER), database, str(query), target],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(database: str, child: subprocess.Popen[bytes]) -> None:
    _, errors = child.communicate()
    if child.returncode != 0:
        last = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise StorageError(f"database {database}: reading through ADBC failed: {last[0]}")
