"""Group commit: the events of many concurrent callers recorded in shared transactions.

A web server receives events one request at a time. Recorded one transaction each, a
single event costs the whole fixed price of a batch (the config reads, the rules'
statement, the commit) and the requests queue behind the one writer anyway. The
:class:`EventWriter` keeps one thread that takes every submission waiting when it is
free and records them together with :func:`record_prepared`, in one transaction; each
caller gets its own :class:`RecordResult` only once that transaction has committed, so
an answer still means "stored and scored".

Each submission stays all-or-nothing: one that fails validation fails alone, before
the group is written; if the group's transaction fails (an unknown contact id, say),
every submission in it is retried alone, so only the one at fault gets the error.

This is not durable work left to a background thread: nothing is acknowledged before it
is committed, and a submission still queued when the process dies was never answered.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from leadflow.activity.engine import PreparedEvent
from leadflow.activity.inputs import EventInput
from leadflow.activity.service import MAX_BATCH, RecordResult, prepare_events, record_prepared
from leadflow.clock import Clock
from leadflow.errors import ValidationError
from leadflow.storage.database import Database

# Submissions written together hold at most this many events: a bigger group would hold
# the write lock, and the first callers' answers, for longer than it saves.
GROUP_EVENTS = 2_000


@dataclass
class _Submission:
    events: Sequence[EventInput]
    future: Future[RecordResult] = field(default_factory=Future)
    prepared: list[PreparedEvent] = field(default_factory=list)


class EventWriter:
    """Records events for many threads or tasks at once; thread-safe. Close it when done."""

    def __init__(self, db: Database, clock: Clock, *, group_events: int = GROUP_EVENTS) -> None:
        self._db = db
        self._clock = clock
        self._group_events = group_events
        self._queue: queue.SimpleQueue[_Submission | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, events: Sequence[EventInput]) -> Future[RecordResult]:
        """Queue a batch; its future gives the batch's result once it is committed."""
        if len(events) > MAX_BATCH:
            raise ValidationError(f"a batch holds at most {MAX_BATCH} events, got {len(events)}")
        submission = _Submission(events)
        with self._lock:
            if self._closed:
                raise RuntimeError("the event writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="leadflow-events")
                self._thread.daemon = True
                self._thread.start()
            self._queue.put(submission)
        return submission.future

    def record(self, events: Sequence[EventInput]) -> RecordResult:
        """Record ``events`` (waiting for the shared commit); raises as ``record_events``."""
        return self.submit(events).result()

    async def record_async(self, events: Sequence[EventInput]) -> RecordResult:
        """The same, for an event loop: it waits without holding the loop."""
        return await asyncio.wrap_future(self.submit(events))

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            group = [first]
            size = len(first.events)
            stop = False
            while size < self._group_events:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
                size += len(item.events)
            now = self._clock.now()
            self._write([s for s in group if _prepared(s, now)], now)
            if stop:
                return

    def _write(self, group: list[_Submission], now: datetime) -> None:
        if not group:
            return
        try:
            with self._db.write() as conn:
                result = record_prepared(conn, [e for s in group for e in s.prepared], now=now)
        except Exception as exc:
            if len(group) == 1:
                group[0].future.set_exception(exc)
                return
            for submission in group:  # find the one at fault: each alone
                self._write([submission], now)
            return
        _answer(group, result)


def _prepared(submission: _Submission, now: datetime) -> bool:
    """Validate one submission; a bad one gets its error and is left out of the group."""
    if not submission.future.set_running_or_notify_cancel():
        return False
    try:
        submission.prepared = prepare_events(submission.events, now=now)
    except Exception as exc:
        submission.future.set_exception(exc)
        return False
    return True


def _answer(group: list[_Submission], result: RecordResult) -> None:
    """Each submission's share of the group's result."""
    start = 0
    credited: set[int] = set()
    for submission in group:
        end = start + len(submission.prepared)
        ids = result.event_ids[start:end]
        contacts = set(result.contact_ids[start:end]) & result.created_ids
        created = contacts - credited
        credited |= created
        recorded = sum(1 for i in ids if i is not None)
        submission.future.set_result(
            RecordResult(
                recorded=recorded,
                duplicates=len(ids) - recorded,
                contacts_created=len(created),
                event_ids=ids,
                contact_ids=result.contact_ids[start:end],
                created_ids=frozenset(created),
            )
        )
        start = end
