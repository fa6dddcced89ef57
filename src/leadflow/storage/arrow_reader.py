"""Run as a script (``python arrow_reader.py DATABASE QUERY.sql OUT.arrow``):
one read-only query through ADBC's SQLite driver, its result written as an Arrow IPC file.

A process of its own, never a thread of leadflow's: ADBC's driver carries its own copy of
SQLite, and two copies of SQLite in one process each release the other's POSIX locks when
they close the file (SQLite's "How To Corrupt Your Database Files", 2.2.1). Run by its path,
not as ``-m``, so the child imports nothing of leadflow (half a second saved per child).
"""

from __future__ import annotations

import sys


def main(database: str, target: str, sql: str) -> None:
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa

    with adbc.connect(f"file:{database}?mode=ro") as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        reader = cursor.fetch_record_batch()
        with pa.OSFile(target, "wb") as sink, pa.ipc.new_file(sink, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)


if __name__ == "__main__":
    with open(sys.argv[2], encoding="utf-8") as query:
        main(sys.argv[1], sys.argv[3], query.read())
