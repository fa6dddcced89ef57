"""Group commit for single events: concurrent ``POST /events`` requests share a transaction.

A transaction per event caps the API at a few hundred events a second on SQLite (each
records, scores and runs the lifecycle rules in its own transaction), while a batch of a
hundred costs about the same as one. So each request hands its event to the app's batcher
and waits: the first starts a flush; events that arrive while a flush is writing go into
the next one, as one ``record_events`` call. Nobody waits on a timer, and no request is
answered before its own event is committed and scored: this is not background work.

Each event is validated when it arrives, before it joins a group, so an invalid one is
refused alone and costs the others nothing. A group can still fail in the database (an
event naming an unknown contact id): nothing of it was stored, and it is recorded again
event by event, so each request gets its own answer or error. Each process (uvicorn
worker) has its own batcher.
"""

from __future__ import annotations

import asyncio

from anyio import to_thread

from leadflow.activity.engine import PreparedEvent, prepare_event
from leadflow.activity.inputs import EventInput
from leadflow.activity.service import record_prepared
from leadflow.clock import Clock
from leadflow.storage.database import Database

_Waiting = tuple[PreparedEvent, "asyncio.Future[int | None]"]


class EventBatcher:
    """Records events handed to :meth:`record`, grouping those that arrive together."""

    def __init__(self, db: Database, clock: Clock, *, max_group: int = 500) -> None:
        self._db = db
        self._clock = clock
        self._max_group = max_group
        self._pending: list[_Waiting] = []
        self._flush: asyncio.Task[None] | None = None

    async def record(self, event: EventInput) -> int | None:
        """The stored event's id once committed, or None when its key was already stored;
        an invalid event raises at once (``ValidationError``), before it joins a group."""
        prepared = prepare_event(event, now=self._clock.now())
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._pending.append((prepared, future))
        if self._flush is None:
            self._flush = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                # One turn of the event loop first: requests already read in this turn
                # join the group instead of waiting a whole write for the next one.
                await asyncio.sleep(0)
                group = self._pending[: self._max_group]
                del self._pending[: self._max_group]
                await self._write(group)
        finally:
            self._flush = None

    async def _write(self, group: list[_Waiting]) -> None:
        try:
            ids = await self._record([event for event, _ in group])
        except Exception as exc:
            # Nothing of the group was stored: find whose event it was (a database that
            # is down fails each one again, and each waiter hears of it).
            if len(group) == 1:
                _settle(group[0][1], error=exc)
            else:
                await self._one_by_one(group)
            return
        for (_, future), event_id in zip(group, ids, strict=True):
            _settle(future, result=event_id)

    async def _one_by_one(self, group: list[_Waiting]) -> None:
        for event, future in group:
            try:
                (event_id,) = await self._record([event])
            except Exception as exc:
                _settle(future, error=exc)
            else:
                _settle(future, result=event_id)

    async def _record(self, events: list[PreparedEvent]) -> tuple[int | None, ...]:
        return await to_thread.run_sync(self._record_now, events)

    def _record_now(self, events: list[PreparedEvent]) -> tuple[int | None, ...]:
        with self._db.write(check_references=False) as conn:  # see record_prepared
            return record_prepared(conn, events, now=self._clock.now()).event_ids


def _settle(
    future: asyncio.Future[int | None],
    *,
    result: int | None = None,
    error: BaseException | None = None,
) -> None:
    # A request whose client went away was cancelled; its event is stored all the same.
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
