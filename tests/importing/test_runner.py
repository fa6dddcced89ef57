from __future__ import annotations

from collections.abc import Sequence

from leadflow.importing.runner import _prepared
from leadflow.importing.sources import SourceRow


def _rows_of(chunk: Sequence[SourceRow]) -> list[int]:
    # Module level, so that pool processes can unpickle it.
    return [row.row for row in chunk]


def test_pool_and_this_process_give_chunks_in_file_order():
    chunks = [[SourceRow(n * 10 + i, []) for i in range(10)] for n in range(40)]

    prepared = list(_prepared(iter(chunks), _rows_of, workers=2))

    assert prepared == [[row.row for row in c] for c in chunks]


def test_one_worker_prepares_in_this_process():
    chunks = [[SourceRow(1, [])], [SourceRow(2, [])]]

    assert list(_prepared(iter(chunks), _rows_of, workers=1)) == [[1], [2]]
