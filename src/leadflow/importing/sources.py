"""Reading import files as streams of located rows: CSV and JSON lines.

Rows are numbered as a text editor or spreadsheet shows them: the line a record starts on,
so the header of a CSV file is row 1. Problems a single row has (wrong number of fields,
bytes that are not UTF-8, NUL bytes, a JSON line that does not parse) travel with the row,
so the importer can skip or refuse it; problems that make the rest of the file unreadable
(a quote that never closes) raise :class:`InputFileError` at once.
"""

from __future__ import annotations

import codecs
import csv
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
    """Decodes a binary file line by line, noting which lines are not clean UTF-8 text."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.bytes_read = 0
        self.problems: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        lines = iter(self._handle)
        first = next(lines, None)
        if first is None:
            return
        yield self._text(1, first.removeprefix(codecs.BOM_UTF8), len(first))
        number = 1
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
        width = len(self.header)
        reader = self._reader
        problems = self._lines.problems
        try:  # _records, inline: this loop runs once a row
            for cells in reader:
                start, self._last_line = self._last_line + 1, reader.line_num
                if not cells:
                    continue  # a blank line
                problem = None
                if problems:
                    problem = self._lines.problem_between(start, self._last_line)
                if problem is None and len(cells) != width:
                    problem = f"has {len(cells)} fields where the header has {width}"
                yield SourceRow(start, cells, problem)
        except csv.Error as exc:
            raise InputFileError(
                _csv_problem(str(exc)), path=str(self.path), row=self._last_line + 1
            ) from None


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
