"""One database handle per process: engine, transactions and error translation.

SQLite is the embedded default. Writes are serialised: one process-wide lock, and
``BEGIN IMMEDIATE`` so a writer takes SQLite's write lock up front instead of failing
half-way through with "database is locked" when it upgrades a read lock. Reads use plain
deferred transactions and, under WAL, never wait for the writer.

PostgreSQL runs many processes on one database; there the lock is not needed and writes
rely on the database's own row locks.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool, Pool, StaticPool

from leadflow.errors import (
    DatabaseLocked,
    DatabaseReadOnly,
    DatabaseUnavailable,
    StorageError,
)

_WRITE = "leadflow_write"


class Database:
    """Owns the engine; hands out read and write transactions."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, echo: bool = False) -> None:
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        self._write_lock = threading.RLock()
        self.engine = self._create_engine(busy_timeout_ms, echo)
        self._writer = self._create_writer(busy_timeout_ms, echo)
        path = self.url.database if self.is_sqlite and self.has_file else None
        self._checkpointer = Checkpointer(path, busy_timeout_ms) if path else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def has_file(self) -> bool:
        """Whether another process can open this database too (not in-memory SQLite)."""
        return not self.is_sqlite or self.url.database not in (None, "", ":memory:")

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    def _create_engine(self, busy_timeout_ms: int, echo: bool) -> Engine:
        if self.is_sqlite:
            return _sqlite_engine(self.url.render_as_string(False), busy_timeout_ms, echo)
        return create_engine(
            self.url,
            echo=echo,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 5},
        )

    def _create_writer(self, busy_timeout_ms: int, echo: bool) -> Engine:
        if not self.is_sqlite:
            return self.engine
        # The one writer keeps its connection: opening one per transaction costs a fresh
        # page cache each time and, as the last connection closes, a checkpoint of the WAL.
        # Writes are serialised by the lock, so the connection is never used by two threads.
        return _sqlite_engine(
            self.url.render_as_string(False),
            busy_timeout_ms,
            echo,
            poolclass=StaticPool,
            pragmas=WRITER_PRAGMAS,
        )

    @contextmanager
    def write(self, *, check_references: bool = True) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on error.

        ``check_references=False`` is for writes that allocate or look up every id they
        refer to inside the transaction (imports, event batches): on SQLite the foreign keys
        are not looked up row by row (3 of ~60 CPU-seconds of a 1,000,000-row contacts
        import; ~1 ms of a ~48 ms batch of 1,000 events). PostgreSQL checks them as always,
        and the tests run there too.
        """
        with self._write_lock, translate_errors(self), self._writer.connect() as conn:
            conn = conn.execution_options(**{_WRITE: True})
            if self.is_sqlite:
                _references_checked(conn, check_references)
            with conn.begin():
                yield conn
        if self._checkpointer is not None:
            self._checkpointer.nudge()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction with a consistent snapshot."""
        with translate_errors(self), self.engine.connect() as conn, conn.begin():
            yield conn

    def ping(self) -> None:
        """Raise a clear :class:`StorageError` if the database cannot be reached."""
        with self.read() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._write_lock:
            self._writer.dispose()
        self.engine.dispose()

    def describe(self) -> str:
        """The URL without its password, for messages."""
        return self.url.render_as_string(hide_password=True)


# The writer's own settings (see decision 12). A batch of random-keyed events dirties about
# two pages per row across the indexes; checkpointing the WAL every 1,000 pages (SQLite's
# default) wrote and synced those pages back to the database after nearly every batch. The
# Checkpointer thread copies pages back beside the writer; the writer's own checkpoint, at
# this many pages, is what lets the WAL start over, and its commit stalls 30-110 ms on the
# two fsyncs of the pages the thread has not copied yet (third amendment): every 100,000
# pages that stall comes 2.5 times less often than every 40,000. The WAL file keeps the size
# those pages take (and 5,000 more, for the batch that crosses the mark): cut back to less
# after each checkpoint, it had to grow again through the next interval, and a write that
# extends a file costs about twice one over blocks already allocated (second amendment);
# the thread gives the space back once writes have paused. The kept connection's page
# cache is 256 MiB (allocated only as pages are used) so that the hot index pages stay in
# memory between batches.
WAL_CHECKPOINT_PAGES = 100_000
WAL_FRAME_BYTES = 24 + 4096  # a frame's header, then the page (SQLite's default page size)
WRITER_PRAGMAS = {
    "cache_size": -262144,
    "wal_autocheckpoint": WAL_CHECKPOINT_PAGES,
    "journal_size_limit": 32 + (WAL_CHECKPOINT_PAGES + 5_000) * WAL_FRAME_BYTES,
}


class Checkpointer:
    """Copies the WAL back into the database file on a thread of its own (SQLite).

    SQLite checkpoints inside the commit that crosses ``wal_autocheckpoint`` pages: that
    commit, and every request waiting on it, stalls while the whole WAL is copied (the
    REST API's p99 latency at 500 events/s was the stall). Here a passive checkpoint runs
    on its own connection soon after writes, while the writer goes on: the sqlite3 module
    lets go of the GIL while SQLite works, so it uses the other core. The writer's own
    autocheckpoint stays as the backstop: it finds most pages copied already, and its
    commit also lets the WAL start over (a passive checkpoint under a steady stream of
    commits never finds the WAL idle enough to reset it).

    Once no write has come for ``IDLE`` seconds the WAL file is truncated to nothing, so a
    server that took a burst of writes does not keep hundreds of MB of copied frames.
    """

    PAUSE = 0.25  # seconds between checkpoints while writes keep coming
    IDLE = 30.0  # seconds without writes before the WAL file is truncated
    # The truncation waits for readers and holds writers off while it waits: only briefly.
    TRUNCATE_WAIT_MS = 100

    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def nudge(self) -> None:
        """A write committed: checkpoint soon (starting the thread on the first write)."""
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopping:
                    self._thread = threading.Thread(
                        target=self._run, name="leadflow-checkpoint", daemon=True
                    )
                    self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._stop.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout=30)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, timeout=self._busy_timeout_ms / 1000)
        except sqlite3.Error:
            return  # checkpoints stay with the writer's autocheckpoint
        copied_since_truncate = False
        try:
            while not self._stopping:
                woke = self._wake.wait(self.IDLE if copied_since_truncate else None)
                if self._stopping:
                    break
                if not woke:  # writes have paused: the frames are copied, give the space back
                    copied_since_truncate = not self._truncate(conn)
                    continue
                self._wake.clear()
                with suppress(sqlite3.Error):  # busy or read-only: the next write tries again
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                copied_since_truncate = True
                if self._stop.wait(self.PAUSE):
                    break
        finally:
            conn.close()

    def _truncate(self, conn: sqlite3.Connection) -> bool:
        """Checkpoint everything and cut the WAL file to nothing; whether it could."""
        try:
            conn.execute(f"PRAGMA busy_timeout = {self.TRUNCATE_WAIT_MS}")
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error:
            return False
        finally:
            with suppress(sqlite3.Error):
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        return not busy


# Parsed statements each sqlite3 connection keeps (the module's default: 128). A batch's
# `IN (?, ?, ...)` look-ups have a text for each length, and a stream of event groups of
# varying sizes pushed the lifecycle rules' statement (6 kB of SQL, 0.45 ms to parse
# against 0.05 ms to run for 30 contacts) out of a cache of 128 before each use.
CACHED_STATEMENTS = 2048


def _sqlite_engine(
    url: str,
    busy_timeout_ms: int,
    echo: bool,
    *,
    poolclass: type[Pool] = NullPool,
    pragmas: dict[str, int] | None = None,
) -> Engine:
    engine = create_engine(
        url,
        echo=echo,
        # Reads: one connection per checkout, cheap for a file database, and no sqlite3
        # connection is shared between threads.
        poolclass=poolclass,
        connect_args={
            "timeout": busy_timeout_ms / 1000,
            "check_same_thread": False,
            "cached_statements": CACHED_STATEMENTS,
        },
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module; we emit BEGIN ourselves.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        # WAL cannot be set on a read-only file; reads still work without it.
        with suppress(sqlite3.OperationalError):
            cursor.execute("PRAGMA journal_mode = WAL")
        # With WAL, NORMAL loses no committed transaction on a process crash; only
        # an OS crash or power loss may roll back the last commits.
        cursor.execute("PRAGMA synchronous = NORMAL")
        for name, value in (pragmas or {}).items():
            cursor.execute(f"PRAGMA {name} = {int(value)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _references_checked(conn: Connection, checked: bool) -> None:
    """SQLite: foreign keys on or off for the next transaction (the pragma is a no-op inside
    one). Set only when it changes, and left as the last write wanted it: setting it expires
    every statement the connection has prepared, and re-preparing them (the lifecycle
    rules' 6 kB statement alone takes 0.45 ms) was most of the cost of a small event group
    when each one turned the checks off and on again."""
    record = conn.connection
    if record.info.get(_REFERENCES_CHECKED, True) == checked:
        return
    driver = record.dbapi_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys = {'ON' if checked else 'OFF'}")
    record.info[_REFERENCES_CHECKED] = checked


_REFERENCES_CHECKED = "leadflow_references_checked"  # as set on connect: PRAGMA foreign_keys


@contextmanager
def translate_errors(db: Database) -> Iterator[None]:
    """Turn driver errors about the database itself into leadflow's storage errors."""
    try:
        yield
    except sa_exc.OperationalError as exc:
        raise _storage_error(db, exc) from exc
    except sa_exc.InterfaceError as exc:
        raise DatabaseUnavailable(
            f"cannot talk to the database at {db.describe()}: {exc.orig}"
        ) from exc


def _storage_error(db: Database, exc: sa_exc.OperationalError) -> StorageError:
    text = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    where = db.describe()
    if db.is_sqlite:
        path = db.url.database or ":memory:"
        if "locked" in text or "busy" in text:
            return DatabaseLocked(
                f"database {path} is locked by another process (waited for the busy timeout)"
            )
        if "readonly" in text or "read-only" in text or "attempt to write" in text:
            return DatabaseReadOnly(f"database {path} is read-only: {text}")
        if "unable to open" in text:
            return DatabaseUnavailable(
                f"cannot open database {path}: {text}"
                + ("" if Path(path).parent.exists() else " (its folder does not exist)")
            )
        return StorageError(f"database {path}: {text}")
    if "connect" in text or "Connection refused" in text or "server closed" in text:
        return DatabaseUnavailable(f"cannot connect to the database at {where}: {text}")
    if "read-only" in text:
        return DatabaseReadOnly(f"database at {where} is read-only: {text}")
    if "lock timeout" in text or "deadlock" in text:
        return DatabaseLocked(f"database at {where}: {text}")
    return StorageError(f"database at {where}: {text}")
