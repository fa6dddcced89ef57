"""Group commit for single events: concurrent ``POST /events`` requests share a transaction.

A transaction per event caps the API at a few hundred events a second on SQLite (each
records, scores and runs the lifecycle rules in its own transaction), while a batch of a
hundred costs about the same as one. So each request hands its event to the app's batcher
and waits: the first starts a flush; events that arrive while a flush is writing go into
the next one, as one ``record_prepared`` call. Nobody waits on a timer, and no request is
answered before its own event is committed and scored: this is not background work.

Each event is validated when it arrives, before it joins a group, so an invalid one is
refused alone and costs the others nothing. A group can still fail in the database (an
event naming an unknown contact id): nothing of it was stored, and it is recorded again
event by event, so each request gets its own answer or error. Each process (uvicorn
worker) has its own batcher.

The recording itself is the recorder's: :class:`InThread` records in a worker thread of
this process (tests, library use), one group at a time; the served app gives its groups to
an event writer process (:mod:`leadflow.api.writer`) with several in flight, so that it
records while this process reads the next requests. A recorder calls back with each
group's answer, and the callback settles the requests' futures at once: awaiting the
answer in a task first would cost a turn of an event loop busy with requests (~4 ms at
full load) before any request hears of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from anyio import to_thread

from leadflow.activity.engine import PreparedEvent, prepare_event
from leadflow.activity.inputs import EventInput
from leadflow.activity.service import RecordResult, prepare_batch, record_prepared
from leadflow.clock import Clock
from leadflow.storage.database import Database

Ids = tuple[int | None, ...]  # each event's stored id; None for a key stored before
# A group's answer: its ids (a whole batch: its RecordResult), or the error refusing it all.
Answer = Callable[[Any], None]
_Waiting = tuple[PreparedEvent, "asyncio.Future[int | None]"]


class Recorder(Protocol):
    def submit(
        self, events: Sequence[PreparedEvent], now: datetime, answer: Answer, *, whole: bool
    ) -> None:
        """Record ``events`` in one transaction as of ``now``; call ``answer`` (on the event
        loop) with their ids, or with the error that refused them all. A ``whole`` group
        (a client's batch) is recorded on its own and answered with its ``RecordResult``;
        the others may share a transaction with groups sent along with them."""


class InThread:
    """Records in a worker thread of this process."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._tasks: set[asyncio.Task[None]] = set()  # asyncio keeps only weak references

    def submit(
        self, events: Sequence[PreparedEvent], now: datetime, answer: Answer, *, whole: bool
    ) -> None:
        task = asyncio.create_task(self._run(events, now, answer, whole))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, events: Sequence[PreparedEvent], now: datetime, answer: Answer, whole: bool
    ) -> None:
        try:
            result = await to_thread.run_sync(self._record, events, now)
        except Exception as exc:
            answer(exc)
        else:
            answer(result if whole else result.event_ids)

    def _record(self, events: Sequence[PreparedEvent], now: datetime) -> RecordResult:
        with self._db.write(check_references=False) as conn:  # see record_prepared
            return record_prepared(conn, events, now=now)


async def record_with(
    recorder: Recorder, events: Sequence[PreparedEvent], now: datetime, *, whole: bool = False
) -> Any:
    """Submit one group to ``recorder`` and wait for its answer (raising its error)."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    recorder.submit(events, now, partial(settle, future), whole=whole)
    return await future


class EventBatcher:
    """Records events handed to :meth:`record`, grouping those that arrive together."""

    def __init__(
        self, recorder: Recorder, clock: Clock, *, max_group: int = 500, in_flight: int = 1
    ) -> None:
        self._recorder = recorder
        self._clock = clock
        self._max_group = max_group
        self._in_flight = in_flight  # groups submitted and not yet answered, at most
        self._pending: list[_Waiting] = []
        self._sending = 0
        self._scheduled = False
        self._retries: set[asyncio.Task[None]] = set()

    async def record(self, event: EventInput) -> int | None:
        """The stored event's id once committed, or None when its key was already stored;
        an invalid event raises at once (``ValidationError``), before it joins a group."""
        prepared = prepare_event(event, now=self._clock.now())
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._pending.append((prepared, future))
        self._schedule()
        return await future

    async def record_batch(self, events: Sequence[EventInput]) -> RecordResult:
        """A client's batch, all or nothing, as a group of its own (never shared)."""
        now = self._clock.now()
        result: RecordResult = await record_with(
            self._recorder, prepare_batch(events, now=now), now, whole=True
        )
        return result

    def _schedule(self) -> None:
        if self._scheduled or not self._pending or self._sending >= self._in_flight:
            return
        # One turn of the event loop first: requests already read in this turn join the
        # group instead of waiting a whole write for the next one.
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._send)

    def _send(self) -> None:
        self._scheduled = False
        if not self._pending or self._sending >= self._in_flight:
            return
        group = self._pending[: self._max_group]
        del self._pending[: self._max_group]
        self._sending += 1
        self._recorder.submit(
            [event for event, _ in group],
            self._clock.now(),
            partial(self._answered, group),
            whole=False,
        )
        self._schedule()  # more than a group waiting, and room for another

    def _answered(self, group: list[_Waiting], result: Ids | BaseException) -> None:
        self._sending -= 1
        if not isinstance(result, BaseException):
            for (_, future), event_id in zip(group, result, strict=True):
                settle(future, event_id)
        elif len(group) == 1:
            settle(group[0][1], result)
        else:
            # Nothing of the group was stored: find whose event it was (a database that is
            # down fails each one again, and each waiter hears of it).
            retry = asyncio.get_running_loop().create_task(self._one_by_one(group))
            self._retries.add(retry)
            retry.add_done_callback(self._retries.discard)
        self._schedule()

    async def _one_by_one(self, group: list[_Waiting]) -> None:
        for event, future in group:
            try:
                (event_id,) = await record_with(self._recorder, [event], self._clock.now())
            except Exception as exc:
                settle(future, exc)
            else:
                settle(future, event_id)


def settle(future: asyncio.Future[Any], outcome: Any) -> None:
    """Give ``future`` its value, or raise ``outcome`` in its waiter if it is an error. A
    request whose client went away was cancelled; its event is stored all the same."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
