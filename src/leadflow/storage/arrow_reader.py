"""Run as a script (``python arrow_reader.py DATABASE REQUEST.json OUT.arrow``): one
read-only query through ADBC's SQLite driver, its result written as an Arrow IPC file.

The request is ``{"sql": ..., "times": [column, ...], "codes": {column: [value, ...]}}``:
the ``times`` columns (leadflow's stored UTC text, "YYYY-MM-DD HH:MM:SS.ffffff") become
microseconds since the epoch, and each ``codes`` column its values' positions in the list
given, both by Arrow's kernels here, which costs a fraction of SQLite's own functions.

A process of its own, never a thread of leadflow's: ADBC's driver carries its own copy of
SQLite, and two copies of SQLite in one process each release the other's POSIX locks when
they close the file (SQLite's "How To Corrupt Your Database Files", 2.2.1). Run by its path,
not as ``-m``, so the child imports nothing of leadflow (half a second saved per child).
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main(database: str, target: str, request: dict[str, Any]) -> None:
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa

    with adbc.connect(f"file:{database}?mode=ro") as connection, connection.cursor() as cursor:
        cursor.execute(request["sql"])
        reader = cursor.fetch_record_batch()
        writer = None
        with pa.OSFile(target, "wb") as sink:
            for batch in reader:
                converted = _convert(batch, request)
                if writer is None:
                    writer = pa.ipc.new_file(sink, converted.schema)
                writer.write_batch(converted)
            if writer is None:  # no rows: an empty file (converted columns are integers)
                converted_names = set(request.get("times", ())) | set(request.get("codes", {}))
                fields = [
                    pa.field(f.name, pa.int64()) if f.name in converted_names else f
                    for f in reader.schema
                ]
                writer = pa.ipc.new_file(sink, pa.schema(fields))
            writer.close()


def _convert(batch: Any, request: dict[str, Any]) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if name in request.get("times", ()):
            column = column.cast(pa.string()).cast(pa.timestamp("us")).cast(pa.int64())
        elif name in request.get("codes", {}):
            values = pa.array(request["codes"][name], pa.string())
            column = pc.index_in(column.cast(pa.string()), value_set=values).cast(pa.int64())
        columns.append(column)
    return pa.record_batch(columns, names=batch.schema.names)


if __name__ == "__main__":
    with open(sys.argv[2], encoding="utf-8") as file:
        main(sys.argv[1], sys.argv[3], json.load(file))
