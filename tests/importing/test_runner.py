from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from leadflow.errors import InputFileError
from leadflow.importing.runner import ImportRun, RunStats, _outcomes, _prepared
from leadflow.importing.sources import ChunkCut, CsvSource, RawChunk, SourceRow


def _rows_of(chunk: Sequence[SourceRow]) -> list[int]:
    # Module level, so that pool processes can unpickle it.
    return [row.row for row in chunk]


def _located(chunk: Sequence[SourceRow]) -> list[tuple[int, list[str], str | None]]:
    return [(row.row, row.cells, row.problem) for row in chunk]


def test_pool_and_this_process_give_chunks_in_file_order():
    chunks = [[SourceRow(n * 10 + i, []) for i in range(10)] for n in range(40)]

    with ProcessPoolExecutor(1) as pool:
        prepared = list(_prepared(iter(chunks), _rows_of, pool, workers=2))

    assert prepared == [[row.row for row in c] for c in chunks]


def _read(path: Path, workers: int, chunk_rows: int = 2) -> tuple[list[Any], int]:
    """Every row of ``path`` as the import loop prepares them, and the rows counted."""
    stats = RunStats(path=path)
    with open(path, "rb") as handle:
        source = CsvSource(path, handle)
        run = ImportRun(path=path, header=source.header, workers=workers, chunk_rows=chunk_rows)
        rows = [r for chunk in _outcomes(source, run, _located, stats) for r in chunk]
    return rows, stats.rows


# Quoted fields with newlines and quotes, CRLF endings, blank lines, a row with too many
# fields, bytes that are not UTF-8, a NUL byte, a byte order mark and no final newline.
TRICKY = (
    b'\xef\xbb\xbfemail,note\r\na@x.com,"two\r\nlines"\r\n\r\nb@x.com,"say ""hi"""\r\n'
    b'c@x.com,plain,extra\nd@x.com,caf\xe9\ne@x.com,a\x00b\n"f@x.com","x\n\ny"\n'
    b'g@x.com,"""quoted"" start"\nh@x.com,end'
)


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 100])
def test_a_pool_parsing_raw_chunks_reads_what_one_process_reads(tmp_path: Path, chunk_rows: int):
    path = tmp_path / "tricky.csv"
    path.write_bytes(TRICKY)

    one = _read(path, workers=1)
    rows, counted = _read(path, workers=2, chunk_rows=chunk_rows)

    assert (rows, counted) == one
    assert [r[0] for r in rows] == [2, 5, 6, 7, 8, 9, 12, 13]
    assert rows[0][1] == ["a@x.com", "two\r\nlines"]
    assert [r[2] is not None for r in rows] == [False, False, True, True, True] + [False] * 3


def test_a_stray_quote_that_misleads_the_cut_is_read_in_this_process(tmp_path: Path):
    # The quote in `5" screen` makes the quotes before the next newlines odd, so a cut
    # lands inside the quoted field that follows; its chunk cannot parse, and the rest of
    # the file is read here, giving the same rows.
    lines = [b"email,note", b'a@x.com,5" screen', b'b@x.com,"one', b"two", b'three"']
    lines += [f"p{i}@x.com,n{i}".encode() for i in range(20)]
    path = tmp_path / "stray.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")

    rows, counted = _read(path, workers=2)

    assert (rows, counted) == _read(path, workers=1)
    assert rows[1] == (3, ["b@x.com", "one\ntwo\nthree"], None)
    assert counted == 22


def test_an_unbalanced_quote_is_named_at_its_row_with_a_pool(tmp_path: Path):
    path = tmp_path / "open.csv"
    path.write_bytes(b'email,note\na@x.com,ok\nb@x.com,ok\nc@x.com,"never closed\nd@x.com,x\n')

    with pytest.raises(InputFileError, match="unbalanced quote") as caught:
        _read(path, workers=2, chunk_rows=1)

    assert caught.value.row == 4


def test_a_chunk_without_a_cut_is_refused_by_the_parser(tmp_path: Path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"email\na@x.com\n")
    with open(path, "rb") as handle:
        parser = CsvSource(path, handle).parser

    with pytest.raises(ChunkCut):
        parser(RawChunk(2, 6, None))
    assert parser(RawChunk(2, 6, b"a@x.com\n")) == [SourceRow(2, ["a@x.com"])]
