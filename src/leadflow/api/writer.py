"""The event writer: a child process of the API server that records its event groups.

Python runs one thread at a time in a process, so a server that records events in a
worker thread gives one core to both HTTP and recording: measured under ``wrk`` on two
cores, the server process used exactly one core and the other sat idle, at ~0.3 of a bare
endpoint's rate. Here the server parses, checks and prepares each event, then hands its
group to this process, which records it (``record_prepared``, one transaction) on its own
core while the server reads the next requests. Groups that arrive while the writer is busy
are recorded together, in one transaction, when it is free (each alone if that fails); a
client's batch is always recorded alone.

Each server process (uvicorn worker) has its own writer; on SQLite the writers and the
server's other writes still take the database's one write lock in turn. Groups travel
over a socket pair as pickles (both ends are this package, in processes one server
started) and are recorded in the order sent; the answer to each is the stored ids, or the
error it raised (:class:`~leadflow.errors.LeadflowError` pickles
whole). A writer that dies fails the groups it held with a 503 (their events may or may
not be stored: a retry with the same idempotency keys stores each once) and the next
group starts a new one. The writer exits when the server closes it, or when the server
process is gone (its end of the socket closes).
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import pickle
import signal
import socket
import struct
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from leadflow.activity.engine import PreparedEvent
from leadflow.api.batcher import Answer, Ids, record_with, settle
from leadflow.errors import DatabaseUnavailable, LeadflowError, StorageError
from leadflow.memory import tune_gc_for_serving

_HEADER = struct.Struct("!I")  # the length of the pickle that follows
_START_SECONDS = 60.0  # imports and opening the database, on a slow machine
_CLOSE_SECONDS = 30.0  # to answer the groups it holds, at shutdown


class WriterStopped(DatabaseUnavailable):
    """The writer process ended with groups unanswered: their events may be stored or not."""

    code = "event_writer_stopped"


class EventWriter:
    """The server's side, a :class:`~leadflow.api.batcher.Recorder`: sends groups and calls
    back with their answers (``await writer.record(...)`` waits for one).

    Used from one event loop; the process starts on the first group, or on :meth:`start`
    (the served app calls it at start-up, so the first request does not wait for it).
    Answers are read by a protocol on the loop itself: each is handed to its group's
    callback as it arrives, with no task or thread in between.
    """

    def __init__(self, database_url: str, *, busy_timeout_ms: int = 5000) -> None:
        self._url = database_url
        self._busy_timeout_ms = busy_timeout_ms
        self._process: multiprocessing.process.BaseProcess | None = None
        self._transport: asyncio.Transport | None = None
        self._waiting: deque[Answer] = deque()  # answers come in the order groups were sent
        self._gone: asyncio.Future[None] | None = None
        self._starting: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._socket: socket.socket | None = None

    async def start(self) -> None:
        """Start the process unless it runs; wait until it has opened the database."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._transport is None:
                await self._start()

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        process = context.Process(
            target=serve,
            args=(self._url, self._busy_timeout_ms, theirs),
            name="leadflow-event-writer",
            daemon=True,
        )
        process.start()
        theirs.close()
        # multiprocessing joins its children at exit; this one ends when its socket does,
        # so a server that exits without close() (a crash) must close the socket first.
        atexit.register(ours.close)
        self._socket = ours
        ready: asyncio.Future[None] = loop.create_future()  # its first message: ready, or why not
        self._waiting.append(partial(settle, ready))
        self._gone = loop.create_future()
        transport, _ = await loop.create_connection(lambda: _Channel(self), sock=ours)
        try:
            await asyncio.wait_for(ready, _START_SECONDS)
        except BaseException:
            transport.close()
            process.kill()
            raise
        self._process, self._transport = process, transport

    def submit(
        self, events: Sequence[PreparedEvent], now: datetime, answer: Answer, *, whole: bool
    ) -> None:
        """Send a group; ``answer`` gets its answer or its error (see ``Recorder``)."""
        if self._transport is None:
            starting = self._start_then(events, now, answer, whole)
            task = asyncio.get_running_loop().create_task(starting)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._waiting.append(answer)
        self._transport.write(_frame((list(events), now, whole)))

    async def _start_then(
        self, events: Sequence[PreparedEvent], now: datetime, answer: Answer, whole: bool
    ) -> None:
        try:
            await self.start()
        except Exception as exc:
            answer(exc)
        else:
            self.submit(events, now, answer, whole=whole)

    async def record(self, events: Sequence[PreparedEvent], now: datetime) -> Ids:
        """The stored id of each event (None for a key stored before), once committed."""
        ids: Ids = await record_with(self, events, now)
        return ids

    def answered(self, message: Any) -> None:
        self._waiting.popleft()(message)

    def lost(self) -> None:
        """The process is gone: fail what it held; the next group starts another."""
        self._transport = None
        self._process = None  # reaped by close() or by multiprocessing's next start
        if self._socket is not None:
            atexit.unregister(self._socket.close)
            self._socket = None
        while self._waiting:
            self._waiting.popleft()(
                WriterStopped("the event writer stopped; retry with the same keys")
            )
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)

    async def close(self) -> None:
        """Stop the process once it has answered every group sent."""
        transport, process, gone = self._transport, self._process, self._gone
        if transport is None or gone is None:
            return
        transport.write_eof()  # the writer answers what it read, then sees the end
        try:
            await asyncio.wait_for(asyncio.shield(gone), _CLOSE_SECONDS)
        except TimeoutError:  # stuck (it ignores SIGTERM): what it holds fails as it dies
            if process is not None:
                process.kill()
            await gone
        transport.close()
        if process is not None:
            await asyncio.to_thread(process.join, 10)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None


class _Channel(asyncio.Protocol):
    """Cuts the writer's answers out of the byte stream and hands each to the writer."""

    def __init__(self, writer: EventWriter) -> None:
        self._writer = writer
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + size
            if len(self._buffer) < end:
                return
            message = pickle.loads(self._buffer[_HEADER.size : end])
            del self._buffer[:end]
            self._writer.answered(message)

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        del exc  # why it ended changes nothing: what was not answered failed
        self._writer.lost()


def _frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


# -- the writer process ----------------------------------------------------------------------


def serve(database_url: str, busy_timeout_ms: int, sock: socket.socket) -> None:
    """The writer process's loop: record the groups received, answer each its ids or error."""
    from leadflow.storage.database import Database  # in the child: the server's are not ours

    # A Ctrl-C or a SIGTERM to the server's process group would stop this process half-way
    # through a group; it ends instead when the server closes its end, or is gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        db = Database(database_url, busy_timeout_ms=busy_timeout_ms)
        db.ping()
    except LeadflowError as exc:
        sock.sendall(_frame(exc))
        return
    sock.sendall(_frame(None))  # ready
    # With the defaults a group of 1,000 events set off ~13 collections, and every tenth
    # group or so a full pass over every object the process holds.
    tune_gc_for_serving()
    inbox = _Inbox(sock)
    try:
        while (groups := inbox.take()) is not None:
            sock.sendall(b"".join(_answers(db, groups)))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server is gone
    finally:
        db.dispose()


_Group = tuple[list[PreparedEvent], datetime, bool]  # events, as of, whole


class _Inbox:
    """The groups received: waits for one, then takes every other one already arrived."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def take(self) -> list[_Group] | None:
        """The groups received so far (waiting for one); None once the server closed."""
        while not (groups := self._complete()):
            data = self._sock.recv(_READ_BYTES)
            if not data:
                return None
            self._buffer += data
        self._sock.setblocking(False)
        try:
            while data := self._sock.recv(_READ_BYTES):
                self._buffer += data
        except BlockingIOError:
            pass
        finally:
            self._sock.setblocking(True)
        return groups + self._complete()

    def _complete(self) -> list[_Group]:
        groups: list[_Group] = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            groups.append(pickle.loads(self._buffer[_HEADER.size : end]))
            del self._buffer[:end]
        return groups


_READ_BYTES = 1 << 20


def _answers(db: Any, groups: list[_Group]) -> list[bytes]:
    """One answer per group, in order. Groups that arrived together are recorded in one
    transaction (as of the latest of their times): a group of 20 costs little more than one
    of 10. If that fails, each is recorded alone, so only the group at fault hears of it.
    A whole group (a client's batch) is always recorded alone, for its ``RecordResult``."""
    answers: list[bytes] = []
    shared: list[_Group] = []
    for group in groups:
        if group[2]:
            answers += _together(db, shared)
            shared = []
            answers.append(_answer(_record(db, group[0], group[1])))
        else:
            shared.append(group)
    return answers + _together(db, shared)


def _together(db: Any, groups: list[_Group]) -> list[bytes]:
    if len(groups) > 1:
        events = [event for group, _, _ in groups for event in group]
        result = _record(db, events, max(now for _, now, _ in groups))
        if not isinstance(result, BaseException):
            answers, start = [], 0
            for group, _, _ in groups:
                answers.append(_frame(result.event_ids[start : start + len(group)]))
                start += len(group)
            return answers
    return [_answer(_ids(_record(db, events, now))) for events, now, _ in groups]


def _record(db: Any, events: list[PreparedEvent], now: datetime) -> Any:
    """The group's ``RecordResult``, or the error that refused it."""
    from leadflow.activity.service import record_prepared

    try:
        with db.write(check_references=False) as conn:  # see record_prepared
            return record_prepared(conn, events, now=now)
    except Exception as exc:  # answered to the group that sent it, never lost here
        return exc


def _ids(result: Any) -> Any:
    return result if isinstance(result, BaseException) else result.event_ids


def _answer(result: Any) -> bytes:
    try:
        return _frame(result)
    except Exception:  # an error that does not pickle: its type and message
        return _frame(StorageError(f"{type(result).__name__}: {result}"))
