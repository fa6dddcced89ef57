"""Reading import files as streams of located rows: CSV and JSON lines.

Rows are numbered as a text editor or spreadsheet shows them: the line a record starts on,
so the header of a CSV file is row 1. Problems a single row has (wrong number of fields,
bytes that are not UTF-8, NUL bytes, a JSON line that does not parse) travel with the row,
so the importer can skip or refuse it; problems that make the rest of the file unreadable
(a quote that never closes) raise :class:`InputFileError` at once.

A big CSV file can also be cut into :class:`RawChunk` s of whole records without parsing it
(:meth:`CsvSource.raw_chunks`), for worker processes to parse (:class:`CsvChunkParser`):
the process that writes then only reads bytes. See :meth:`CsvSource.raw_chunks` for how a
cut is found and checked.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

from leadflow.errors import InputFileError


class SourceRow(NamedTuple):
    """One record: where it starts, its cells (or JSON object), and what is wrong with it.

    A tuple, because chunks of rows travel to worker processes and tuples pickle cheaply.
    """

    row: int
    cells: list[str]
    problem: str | None = None
    record: dict[str, Any] | None = None  # JSON lines only


def check_file(path: Path, *, max_bytes: int) -> int:
    """Refuse what cannot be imported before reading a byte; return the size."""
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise InputFileError(f"cannot read: {exc.strerror}", path=str(path)) from None
    if path.is_dir():
        raise InputFileError("is a folder, not a file", path=str(path))
    if size > max_bytes:
        raise InputFileError(
            f"is {size:,} bytes, above the import limit of {max_bytes:,} bytes "
            "(raise LEADFLOW_IMPORT_MAX_BYTES to allow it)",
            path=str(path),
        )
    if size == 0:
        raise InputFileError("is empty", path=str(path))
    return size


class _Lines:
    """Decodes a binary file line by line, noting which lines are not clean UTF-8 text.

    ``first_line`` is the number of the handle's first line in the file; only the file's
    own first line may start with a byte order mark.
    """

    def __init__(self, handle: IO[bytes], first_line: int = 1) -> None:
        self.handle = handle
        self._first_line = first_line
        self.bytes_read = 0
        self.problems: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        lines = iter(self.handle)
        first = next(lines, None)
        if first is None:
            return
        number = self._first_line
        yield self._text(
            number, first.removeprefix(codecs.BOM_UTF8) if number == 1 else first, len(first)
        )
        for raw in lines:  # the common case inline: one decode and one NUL test a line
            number += 1
            self.bytes_read += len(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield self._text(number, raw, 0)
                continue
            yield text if "\x00" not in text else self._text(number, raw, 0)

    def _text(self, number: int, raw: bytes, size: int) -> str:
        """A line's text, noting a problem with it; ``size`` is added to the bytes read."""
        self.bytes_read += size
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.problems[number] = (
                f"is not UTF-8 text (byte {raw[exc.start]:#04x} at position {exc.start + 1}"
                " of the line); save the file as UTF-8"
            )
            text = raw.decode("utf-8", errors="replace")
        if "\x00" in text:
            self.problems[number] = "contains a NUL byte (a binary or UTF-16 file?)"
            text = text.replace("\x00", "")
        return text

    def problem_between(self, first: int, last: int) -> str | None:
        for number in range(first, last + 1):
            if number in self.problems:
                return self.problems.pop(number)
        return None


class CsvSource:
    """A CSV file read as a stream: the header first, then located rows."""

    def __init__(self, path: Path, handle: IO[bytes]) -> None:
        self.path = path
        self._lines = _Lines(handle)
        self._reader = csv.reader(self._lines, strict=True)
        self._last_line = 0
        self.header = self._read_header()

    @property
    def bytes_read(self) -> int:
        return self._lines.bytes_read

    def _read_header(self) -> list[str]:
        for cells in self._records():
            first, self._last_line = self._last_line + 1, self._reader.line_num
            if any(c.strip() for c in cells):
                problem = self._lines.problem_between(first, self._last_line)
                if problem:
                    raise InputFileError(problem, path=str(self.path), row=self._last_line)
                return [c.strip() for c in cells]
        raise InputFileError("has no header row", path=str(self.path))

    def _records(self) -> Iterator[list[str]]:
        while True:
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InputFileError(
                    _csv_problem(str(exc)), path=str(self.path), row=self._last_line + 1
                ) from None
            yield cells

    def __iter__(self) -> Iterator[SourceRow]:
        return _csv_rows(
            self._reader, self._lines, len(self.header), str(self.path), self._last_line
        )

    def raw_chunks(self, rows: int) -> Iterator[RawChunk]:
        """The rest of the file, after the header, as chunks of about ``rows`` lines each.

        A chunk ends after a newline preceded by an even number of quote characters since
        the chunk began: in a well-formed file that newline ends a record. A stray quote
        inside an unquoted field (``5" screen``), which the CSV reader accepts, can make
        that count lie; then the chunk ends inside a quoted field, its parser raises
        :class:`ChunkCut`, and the caller reads on from that chunk with :meth:`rows_from`.
        If no record ends within ``_MAX_CHUNK_BYTES``, the chunk is sent with ``data=None``,
        which means the same.
        """
        handle = self._lines.handle
        offset, line = handle.tell(), self._last_line + 1
        buffer, eof = b"", False
        while True:
            while not eof and buffer.count(b"\n") < rows and len(buffer) < _MAX_CHUNK_BYTES:
                block = handle.read(_BLOCK_BYTES)
                buffer, eof = buffer + block, not block
            if not buffer:
                return
            cut = _cut(buffer, rows, eof)
            if cut == 0 and not eof and len(buffer) < _MAX_CHUNK_BYTES:
                block = handle.read(_BLOCK_BYTES)  # one record spans every line read so far
                buffer, eof = buffer + block, not block
                continue
            if cut == 0:
                yield RawChunk(line, offset, None)
                return
            chunk, buffer = buffer[:cut], buffer[cut:]
            self._lines.bytes_read = offset + cut
            yield RawChunk(line, offset, chunk)
            offset, line = offset + cut, line + chunk.count(b"\n")

    def rows_from(self, chunk: RawChunk) -> Iterator[SourceRow]:
        """The rows from ``chunk`` to the end of the file, read here, one after another."""
        handle = self._lines.handle
        handle.seek(chunk.offset)
        lines = _Lines(handle, first_line=chunk.line)
        lines.bytes_read = chunk.offset
        self._lines = lines
        reader = csv.reader(lines, strict=True)
        return _csv_rows(reader, lines, len(self.header), str(self.path), chunk.line - 1)

    @property
    def parser(self) -> CsvChunkParser:
        return CsvChunkParser(len(self.header))


# Bytes read at a time when cutting chunks, and the most one chunk may hold: wide rows make
# chunks of fewer rows, and a stray quote that hides every record end further on sends the
# rest of the file to be read in one process once this much has been looked at.
_BLOCK_BYTES = 256 * 1024
_MAX_CHUNK_BYTES = 8 * 1024 * 1024


class RawChunk(NamedTuple):
    """Whole records of a CSV file as bytes: the line they start on and their offset."""

    line: int
    offset: int
    data: bytes | None  # None: no cut was found; read on from ``offset`` in one process


class ChunkCut(Exception):
    """The chunk does not end where a record ends, or cannot be parsed on its own: read
    the file on from this chunk in one process, which finds any real error itself."""


class CsvChunkParser(NamedTuple):
    """Parses one :class:`RawChunk` into located rows (pure; runs in worker processes)."""

    width: int

    def __call__(self, chunk: RawChunk) -> list[SourceRow]:
        if chunk.data is None:
            raise ChunkCut
        lines = _Lines(io.BytesIO(chunk.data), first_line=chunk.line)
        reader = csv.reader(lines, strict=True)
        try:
            return list(_csv_rows(reader, lines, self.width, "", chunk.line - 1))
        except InputFileError:
            raise ChunkCut from None


def _cut(buffer: bytes, rows: int, eof: bool) -> int:
    """Where the chunk at the start of ``buffer`` ends: after about ``rows`` lines, where a
    record ends; the whole buffer at the end of the file; 0 if no record ends in it."""
    if eof and buffer.count(b"\n") <= rows:
        return len(buffer)
    end = -1
    for _ in range(rows):
        end = buffer.find(b"\n", end + 1)
        if end < 0:
            break
    cut = _record_end(buffer, end + 1 if end >= 0 else len(buffer))
    if cut == 0:
        cut = _record_end(buffer, len(buffer))
    return cut or (len(buffer) if eof else 0)


def _record_end(buffer: bytes, end: int) -> int:
    """Just after the last newline before ``end`` that an even number of quote characters
    precede, or 0 if there is none. Walks back quote by quote: the count only changes there."""
    quotes = buffer.count(b'"', 0, end)
    while True:
        last_quote = buffer.rfind(b'"', 0, end)
        if quotes % 2 == 0 and (newline := buffer.rfind(b"\n", last_quote + 1, end)) >= 0:
            return newline + 1
        if last_quote < 0:
            return 0
        end, quotes = last_quote, quotes - 1


def _csv_rows(
    reader: Any, lines: _Lines, width: int, path: str, last_line: int
) -> Iterator[SourceRow]:
    """Located rows from ``reader``, whose first line is the one after ``last_line``."""
    problems = lines.problems
    base = last_line - reader.line_num
    try:
        for cells in reader:
            start, last_line = last_line + 1, base + reader.line_num
            if not cells:
                continue  # a blank line
            problem = None
            if problems:
                problem = lines.problem_between(start, last_line)
            if problem is None and len(cells) != width:
                problem = f"has {len(cells)} fields where the header has {width}"
            yield SourceRow(start, cells, problem)
    except csv.Error as exc:
        raise InputFileError(_csv_problem(str(exc)), path=path, row=last_line + 1) from None


def _csv_problem(message: str) -> str:
    if "unexpected end of data" in message or "field larger than field limit" in message:
        return (
            "a quoted field is never closed (unbalanced quote); the rest of the file is unreadable"
        )
    if "expected after" in message:
        return f"malformed quoting ({message}); a quote inside a quoted field must be doubled"
    return f"malformed CSV: {message}"


class JsonLinesSource:
    """A JSON lines file: one JSON object per line; blank lines are skipped."""

    def __init__(self, path: Path, handle: IO[bytes]) -> None:
        self.path = path
        self._lines = _Lines(handle)

    @property
    def bytes_read(self) -> int:
        return self._lines.bytes_read

    def __iter__(self) -> Iterator[SourceRow]:
        for number, text in enumerate(self._lines, start=1):
            if not text.strip():
                continue
            problem = self._lines.problems.pop(number, None)
            record = None
            if problem is None:
                record, problem = _parse_object(text)
            yield SourceRow(number, [text.rstrip("\r\n")], problem, record)


def _parse_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"is not valid JSON: {exc.msg} at character {exc.colno}"
    if not isinstance(value, dict):
        return None, f"is a JSON {type(value).__name__}, not an object"
    return value, None
