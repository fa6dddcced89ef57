"""The SQLite checkpointer copies the WAL into the database file beside the writer."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from leadflow.storage.database import Database


def _wait_for(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def _write_blobs(db: Database, count: int) -> None:
    """A table of ``count`` rows of 4,000 random bytes each: about a page a row."""
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)")
        conn.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            " INSERT INTO blobs (body) SELECT randomblob(4000) FROM n",
            (count,),
        )


def test_written_pages_reach_the_database_file_without_waiting_for_autocheckpoint(
    tmp_path: Path,
):
    path = tmp_path / "ckpt.db"
    db = Database(f"sqlite:///{path}")
    try:
        _write_blobs(db, 500)
        # Some 2 MB sit in the WAL, far below the writer's autocheckpoint (100,000 pages):
        # only the checkpointer copies them into the database file.
        assert _wait_for(lambda: path.stat().st_size > 2_000_000)
    finally:
        db.dispose()


def test_dispose_stops_the_checkpointer_promptly(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'stop.db'}")
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")

    started = time.monotonic()
    db.dispose()

    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_has_no_checkpointer(url: str):
    db = Database(url)
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        assert db._checkpointer is None  # nothing to copy a WAL into
    finally:
        db.dispose()


def test_the_writer_keeps_a_wal_file_as_large_as_a_checkpoint_interval(tmp_path: Path):
    # Cut back below that size after each checkpoint, the WAL file had to grow again through
    # the next interval, and writes that extend a file cost about twice as much.
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with db.write() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("wal_autocheckpoint", "journal_size_limit", "page_size")
            }
    finally:
        db.dispose()
    interval_bytes = pragma["wal_autocheckpoint"] * (24 + pragma["page_size"])
    assert pragma["wal_autocheckpoint"] >= 10_000
    assert pragma["journal_size_limit"] > interval_bytes


def test_the_wal_file_is_truncated_once_writes_pause(tmp_path: Path):
    # A kept WAL of a whole checkpoint interval is hundreds of MB; a server that took a
    # burst of writes gives that space back once the writes stop.
    path = tmp_path / "idle.db"
    db = Database(f"sqlite:///{path}")
    assert db._checkpointer is not None
    db._checkpointer.IDLE = 0.3
    wal = Path(f"{path}-wal")
    try:
        _write_blobs(db, 300)
        assert wal.stat().st_size > 1_000_000
        assert _wait_for(lambda: wal.stat().st_size == 0)
        with db.read() as conn:  # nothing was lost on the way
            assert conn.exec_driver_sql("SELECT count(*) FROM blobs").scalar() == 300
        with db.write() as conn:  # and the writer goes on in the same file
            conn.exec_driver_sql("INSERT INTO blobs (body) VALUES (x'00')")
        assert wal.stat().st_size > 0
    finally:
        db.dispose()


def test_the_wal_is_not_truncated_while_writes_keep_coming(tmp_path: Path):
    path = tmp_path / "busy.db"
    db = Database(f"sqlite:///{path}")
    assert db._checkpointer is not None
    db._checkpointer.IDLE = 0.5
    db._checkpointer.PAUSE = 0.01
    wal = Path(f"{path}-wal")
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (body BLOB)")
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # a write every 0.1 s: never idle for 0.5 s
            with db.write() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (randomblob(4000))")
            time.sleep(0.1)
            assert wal.stat().st_size > 0  # copied back, but the file is kept for the next
    finally:
        db.dispose()
