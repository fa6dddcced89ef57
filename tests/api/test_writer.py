"""The event writer process: groups recorded in a child process on the same database, each
answered with its ids or with the error it raised; a writer that dies fails what it held
and the next group starts another; the served app records its single events through it."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from leadflow.activity.engine import PreparedEvent, prepare_event
from leadflow.activity.inputs import EventInput
from leadflow.activity.models import activities
from leadflow.api import writer as writer_module
from leadflow.api.app import close_event_writer, create_app
from leadflow.api.writer import EventWriter, WriterStopped
from leadflow.errors import DatabaseUnavailable, NotFound

pytestmark = pytest.mark.slow  # each test starts a Python process


def _count(db):
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(activities)).scalar_one()


def _writer(workspace) -> EventWriter:
    return EventWriter(workspace.db.url.render_as_string(hide_password=False))


def _events(clock, *specs: dict) -> list[PreparedEvent]:
    return [prepare_event(EventInput(**spec), now=clock.now()) for spec in specs]


def test_groups_are_recorded_by_another_process_in_the_order_sent(workspace, clock):
    writer = _writer(workspace)
    first = _events(
        clock,
        {"type": "page_view", "email": "ann@acme.example", "idempotency_key": "a"},
        {"type": "demo_requested", "email": "bob@acme.example", "idempotency_key": "b"},
    )
    second = _events(
        clock,
        {"type": "page_view", "email": "ann@acme.example", "idempotency_key": "a"},
        {"type": "call", "email": "bob@acme.example", "idempotency_key": "c"},
    )

    async def run():
        await writer.start()
        pid = writer.pid
        try:
            answers = await asyncio.gather(
                writer.record(first, clock.now()), writer.record(second, clock.now())
            )
        finally:
            await writer.close()
        return pid, answers

    pid, (ids_first, ids_second) = asyncio.run(run())

    assert pid is not None
    assert pid != os.getpid()
    assert all(isinstance(i, int) for i in ids_first)
    assert ids_second[0] is None  # key "a" was stored by the first group, sent before it
    assert isinstance(ids_second[1], int)
    assert _count(workspace.db) == 3
    assert writer.pid is None  # closed: the process ended


def test_an_error_comes_back_with_its_type_and_the_writer_goes_on(workspace, clock):
    writer = _writer(workspace)
    unknown = _events(clock, {"type": "call", "contact_id": 999_999})
    good = _events(clock, {"type": "call", "email": "ann@acme.example"})

    async def run():
        try:
            with pytest.raises(NotFound, match="no contact with id 999999") as refused:
                await writer.record(unknown, clock.now())
            stored = await writer.record(good, clock.now())
        finally:
            await writer.close()
        return refused.value, stored

    error, stored = asyncio.run(run())

    assert error.code == "not_found"
    assert isinstance(stored[0], int)
    assert _count(workspace.db) == 1


def test_a_writer_that_dies_fails_its_group_and_the_next_starts_another(workspace, clock):
    writer = _writer(workspace)
    lost = _events(clock, {"type": "call", "email": "ann@acme.example", "idempotency_key": "x"})

    async def run():
        await writer.start()
        dead = writer.pid
        assert dead is not None
        os.kill(dead, signal.SIGKILL)  # the group below is sent before the loop hears of it
        with pytest.raises(WriterStopped, match="retry with the same keys"):
            await writer.record(lost, clock.now())
        try:
            again = await writer.record(lost, clock.now())  # the client's retry
            return dead, writer.pid, again
        finally:
            await writer.close()

    dead, restarted, again = asyncio.run(run())

    assert restarted is not None
    assert restarted != dead
    assert isinstance(again[0], int)
    assert _count(workspace.db) == 1


def test_a_writer_on_a_database_it_cannot_open_says_why(tmp_path, clock):
    writer = EventWriter(f"sqlite:///{tmp_path}/no/such/folder/leadflow.db")

    async def run():
        await writer.start()

    with pytest.raises(DatabaseUnavailable, match="its folder does not exist"):
        asyncio.run(run())
    assert writer.pid is None


def test_the_served_app_records_single_events_through_its_writer(workspace, admin_key):
    app = create_app(workspace, event_writer=True)
    bodies = [
        {"type": "page_view", "email": f"p{i % 7}@x.example", "idempotency_key": f"k{i}"}
        for i in range(40)
    ]
    bodies[13] = {"type": "call", "contact_id": 999_999}

    async def post_all(client):
        responses = await asyncio.gather(*(client.post("/events", json=b) for b in bodies))
        return responses, app.state.event_writer.pid

    responses, writer_pid = asyncio.run(_served(app, admin_key, post_all))

    statuses = [r.status_code for r in responses]
    assert statuses[13] == 404  # its group failed, and was recorded again event by event
    assert statuses.count(200) == 39
    assert writer_pid is not None
    assert writer_pid != os.getpid()
    assert _count(workspace.db) == 39
    assert app.state.event_writer.pid is None


def test_the_writer_records_as_of_the_time_the_group_was_sent(workspace, clock):
    writer = _writer(workspace)
    at = clock.now() - timedelta(hours=1)
    events = _events(clock, {"type": "call", "email": "ann@acme.example"})

    async def run():
        try:
            return await writer.record(events, at)
        finally:
            await writer.close()

    (event_id,) = asyncio.run(run())

    with workspace.db.read() as conn:
        recorded = conn.execute(
            select(activities.c.recorded_at).where(activities.c.id == event_id)
        ).scalar_one()
    assert recorded.replace(tzinfo=at.tzinfo) == at


def _decoded(frame: bytes):
    return pickle.loads(frame[4:])


def test_groups_that_arrived_together_share_a_transaction_unless_one_fails(workspace, clock):
    now = clock.now()
    first = _events(clock, {"type": "call", "email": "ann@acme.example", "idempotency_key": "1"})
    bad = _events(clock, {"type": "call", "contact_id": 999_999})
    last = _events(
        clock,
        {"type": "call", "email": "bob@acme.example", "idempotency_key": "2"},
        {"type": "call", "email": "ann@acme.example", "idempotency_key": "1"},
    )

    together = [
        _decoded(f)
        for f in writer_module._answers(workspace.db, [(first, now, False), (last, now, False)])
    ]
    alone = _events(clock, {"type": "call", "email": "cy@acme.example"})
    apart = [
        _decoded(f)
        for f in writer_module._answers(
            workspace.db, [(first, now, False), (bad, now, False), (alone, now, False)]
        )
    ]

    assert isinstance(together[0][0], int)
    assert isinstance(together[1][0], int)
    assert together[1][1] is None  # the same key as the first group's, stored once
    assert apart[0] == (None,)  # recorded alone once the shared transaction failed: key 1 again
    assert isinstance(apart[1], NotFound)
    assert isinstance(apart[2][0], int)
    assert _count(workspace.db) == 3


def test_the_inbox_takes_every_group_already_arrived():
    ours, theirs = socket.socketpair()
    inbox = writer_module._Inbox(theirs)
    now = datetime(2026, 11, 2, tzinfo=UTC)
    try:
        ours.sendall(b"".join(writer_module._frame(([], now, False)) for _ in range(3)))
        first = inbox.take()
        ours.sendall(writer_module._frame(([], now, False)))
        second = inbox.take()
        ours.close()
        end = inbox.take()
    finally:
        theirs.close()

    assert first is not None
    assert len(first) == 3
    assert second == [([], now, False)]
    assert end is None


def test_a_server_that_exits_without_closing_its_writer_still_exits(workspace):
    url = workspace.db.url.render_as_string(hide_password=False)
    script = (
        "import asyncio, sys\n"
        "from leadflow.api.writer import EventWriter\n"
        "writer = EventWriter(sys.argv[1])\n"
        "asyncio.run(writer.start())\n"
        "print(writer.pid)\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script, url], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert int(done.stdout)  # it had a writer, which ended with it (or the run timed out)


def test_a_whole_batch_is_recorded_on_its_own_between_the_groups_around_it(workspace, clock):
    now = clock.now()
    before = _events(clock, {"type": "call", "email": "ann@acme.example", "idempotency_key": "1"})
    batch = _events(
        clock,
        {"type": "call", "email": "new@acme.example", "idempotency_key": "2"},
        {"type": "call", "email": "ann@acme.example", "idempotency_key": "1"},
    )
    after = _events(clock, {"type": "call", "email": "bob@acme.example", "idempotency_key": "3"})

    answers = [
        _decoded(f)
        for f in writer_module._answers(
            workspace.db, [(before, now, False), (batch, now, True), (after, now, False)]
        )
    ]

    assert isinstance(answers[0][0], int)
    assert answers[1].recorded == 1  # its RecordResult, after the group sent before it
    assert answers[1].duplicates == 1
    assert answers[1].contacts_created == 1
    assert isinstance(answers[2][0], int)


def test_the_served_app_records_batches_through_its_writer(workspace, admin_key):
    app = create_app(workspace, event_writer=True)
    good = [{"type": "page_view", "email": f"b{i}@x.example"} for i in range(20)]
    bad = [*good[:3], {"type": "call", "contact_id": 999_999}]

    async def post(client):
        return await asyncio.gather(
            client.post("/events/batch", json={"events": good}),
            client.post("/events/batch", json={"events": bad}),
        )

    done, refused = asyncio.run(_served(app, admin_key, post))

    assert done.status_code == 200
    assert done.json()["recorded"] == 20
    assert done.json()["contacts_created"] == 20
    assert refused.status_code == 404  # all or nothing: its first three were not stored
    assert _count(workspace.db) == 20


async def _served(app, key, send):
    """``send(client)`` against ``app`` over ASGI; the app's writer is closed afterwards."""
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as client:
            return await send(client)
    finally:
        await close_event_writer(app)


def test_closing_a_writer_that_does_not_answer_kills_it(workspace, monkeypatch):
    monkeypatch.setattr(writer_module, "_CLOSE_SECONDS", 0.5)
    writer = _writer(workspace)

    async def run():
        await writer.start()
        pid = writer.pid
        os.kill(pid, signal.SIGSTOP)  # stuck: it will never read the end of its input
        await writer.close()
        return pid

    pid = asyncio.run(run())

    assert writer.pid is None
    with pytest.raises(ChildProcessError):  # reaped: gone for good
        os.waitpid(pid, os.WNOHANG)
