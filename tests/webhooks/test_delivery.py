"""The delivery worker against a real receiver on a loopback port: down for a while and then
up (everything arrives, signed, with the failed attempts in the log), a 500 then a 200, a
timeout, the 72-hour end, resending by hand, and two workers sharing one pass."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from leadflow.clock import FrozenClock
from leadflow.storage.database import Database
from leadflow.webhooks import service
from leadflow.webhooks.delivery import Pass, Worker, deliver_due
from leadflow.webhooks.engine import RETRY_WINDOW
from leadflow.workspace import Workspace
from tests.webhooks.conftest import SECRET, deliveries, publish, subscribe
from tests.webhooks.receiver import Receiver, receiver_down, receiver_up


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def worker(client: httpx.Client, timeout: float = 5.0) -> Worker:
    # Jitter fixed at half: the schedule is known, the code path the same.
    return Worker(client, timeout=timeout, jitter=lambda: 0.5)


def run(workspace: Workspace, client: httpx.Client, **options: float) -> Pass:
    return deliver_due(workspace.db, workspace.clock, worker(client, **options))


def log(workspace: Workspace, delivery_id: int) -> list[int | None]:
    return [
        a["status_code"] for a in service.get_delivery(workspace.db, delivery_id)["attempt_log"]
    ]


def test_a_receiver_down_for_hours_gets_everything_once_it_is_up(
    workspace: Workspace, frozen: FrozenClock, client: httpx.Client
):
    with receiver_down(SECRET, frozen) as receiver:
        subscribe(workspace, receiver.url, ["stage.changed", "contact.created"])
        publish(workspace, "contact.created", *({"contact_id": i} for i in range(1, 4)))
        publish(workspace, "stage.changed", {"contact_id": 1, "to_stage": "mql"})
        for _ in range(8):  # the worker keeps running while the receiver is down
            assert run(workspace, client).delivered == 0
            frozen.advance(timedelta(minutes=30))
        down = {d["id"]: d["attempts"] for d in deliveries(workspace.db)}

        receiver.up()
        frozen.advance(timedelta(hours=7))  # past the longest wait between attempts
        done = run(workspace, client)

    assert done == Pass(delivered=4)
    assert all(n >= 5 for n in down.values())  # refused every half hour, then less often
    assert sorted(r.delivery_id for r in receiver.received) == [1, 2, 3, 4]
    assert all(r.verified for r in receiver.received)
    assert [
        (r.topic, r.body["data"]) for r in sorted(receiver.received, key=lambda r: r.event_id)
    ] == [
        ("contact.created", {"contact_id": 1}),
        ("contact.created", {"contact_id": 2}),
        ("contact.created", {"contact_id": 3}),
        ("stage.changed", {"contact_id": 1, "to_stage": "mql"}),
    ]
    for delivery in deliveries(workspace.db):
        attempts = service.get_delivery(workspace.db, delivery["id"])["attempt_log"]
        assert delivery["status"] == "delivered"
        assert [a["status_code"] for a in attempts] == [None] * down[delivery["id"]] + [200]
        assert all("ConnectError" in a["error"] for a in attempts[:-1])
        assert attempts[-1]["error"] is None


def test_a_500_is_retried_and_the_200_after_it_delivers(
    workspace: Workspace, frozen: FrozenClock, client: httpx.Client
):
    with receiver_up(SECRET, frozen) as receiver:
        receiver.answers = [500, 200]
        subscribe(workspace, receiver.url, ["deal.won"])
        publish(workspace, "deal.won", {"deal_id": 9})

        first = run(workspace, client)
        early = run(workspace, client)  # not due yet
        frozen.advance(timedelta(seconds=30))
        second = run(workspace, client)

    assert (first, early, second) == (Pass(retrying=1), Pass(), Pass(delivered=1))
    assert log(workspace, 1) == [500, 200]
    [delivery] = deliveries(workspace.db)
    assert delivery["last_status_code"] == 200
    assert delivery["delivered_at"] == frozen.now()


def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(
    workspace: Workspace, frozen: FrozenClock, client: httpx.Client
):
    with receiver_up(SECRET, frozen) as receiver:
        receiver.delay = 1.0
        subscribe(workspace, receiver.url, ["deal.won"])
        publish(workspace, "deal.won", {"deal_id": 9})

        done = run(workspace, client, timeout=0.2)

    assert done == Pass(retrying=1)
    [attempt] = service.get_delivery(workspace.db, 1)["attempt_log"]
    assert attempt["status_code"] is None
    assert "Timeout" in attempt["error"]
    assert 150 <= attempt["duration_ms"] < 1000


def test_a_delivery_failing_for_72_hours_is_dead_after_a_last_attempt_at_the_end(
    workspace: Workspace, frozen: FrozenClock, client: httpx.Client
):
    start = frozen.now()
    with receiver_down(SECRET, frozen) as receiver:
        subscribe(workspace, receiver.url, ["deal.lost"])
        publish(workspace, "deal.lost", {"deal_id": 3})
        passes = 0
        while (delivery := deliveries(workspace.db)[0])["status"] == "pending":
            frozen.set(delivery["next_attempt_at"])  # straight to the next attempt
            run(workspace, client)
            passes += 1
        frozen.advance(timedelta(days=1))
        after = run(workspace, client)

    attempts = service.get_delivery(workspace.db, 1)["attempt_log"]
    assert delivery["status"] == "dead"
    assert delivery["next_attempt_at"] is None
    assert len(attempts) == passes
    assert attempts[-1]["at"] == start + RETRY_WINDOW
    assert after == Pass()


def test_resend_by_hand_posts_a_delivered_delivery_again(
    workspace: Workspace, frozen: FrozenClock, client: httpx.Client
):
    with receiver_up(SECRET, frozen) as receiver:
        subscribe(workspace, receiver.url, ["deal.won"])
        publish(workspace, "deal.won", {"deal_id": 9})
        run(workspace, client)
        frozen.advance(timedelta(days=10))

        service.resend(workspace.db, workspace.clock, 1)
        again = run(workspace, client)

    assert again == Pass(delivered=1)
    assert [r.event_id for r in receiver.received] == [1, 1]  # same event: receivers dedupe
    assert log(workspace, 1) == [200, 200]


def test_resend_brings_a_dead_delivery_back(
    workspace: Workspace, frozen: FrozenClock, client: httpx.Client
):
    with receiver_down(SECRET, frozen) as receiver:
        subscribe(workspace, receiver.url, ["deal.won"])
        publish(workspace, "deal.won", {"deal_id": 9})
        frozen.advance(RETRY_WINDOW)
        assert run(workspace, client) == Pass(dead=1)
        receiver.up()

        service.resend(workspace.db, workspace.clock, 1)
        again = run(workspace, client)

    assert again == Pass(delivered=1)
    assert log(workspace, 1) == [None, 200]


def test_deliveries_of_an_inactive_subscription_wait(
    workspace: Workspace, frozen: FrozenClock, client: httpx.Client
):
    with receiver_up(SECRET, frozen) as receiver:
        crm = subscribe(workspace, receiver.url, ["deal.won"])
        publish(workspace, "deal.won", {"deal_id": 9})
        service.update_subscription(workspace.db, crm.id, active=False)
        paused = run(workspace, client)
        service.update_subscription(workspace.db, crm.id, active=True)
        resumed = run(workspace, client)

    assert (paused, resumed) == (Pass(), Pass(delivered=1))


def test_two_workers_at_once_never_post_the_same_delivery_twice(
    workspace: Workspace, frozen: FrozenClock
):
    url = workspace.db.url.render_as_string(hide_password=False)
    databases = [Database(url), Database(url)]  # as two processes would have
    with receiver_up(SECRET, frozen) as receiver:
        subscribe(workspace, receiver.url, ["contact.created"])
        publish(workspace, "contact.created", *({"contact_id": i} for i in range(60)))
        results = _in_parallel(receiver, databases, frozen)

    for database in databases:
        database.dispose()
    posted = sorted(r.delivery_id for r in receiver.received)
    assert posted == list(range(1, 61))  # each once
    assert sum(r.delivered for r in results) == 60
    assert receiver.requests == 60


def _in_parallel(receiver: Receiver, databases: list[Database], clock: FrozenClock) -> list[Pass]:
    start = threading.Barrier(len(databases))
    results: list[Pass] = []

    def one(database: Database) -> None:
        with httpx.Client() as client:
            start.wait()
            results.append(deliver_due(database, clock, worker(client), limit=100))

    threads = [threading.Thread(target=one, args=(d,)) for d in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_a_slow_receiver_gets_a_batch_at_once_not_one_after_another(
    workspace: Workspace, frozen: FrozenClock, client: httpx.Client
):
    with receiver_up(SECRET, frozen) as receiver:
        receiver.delay = 0.6
        subscribe(workspace, receiver.url, ["deal.won"])
        publish(workspace, "deal.won", *({"deal_id": i} for i in range(4)))
        started = time.perf_counter()
        done = deliver_due(workspace.db, workspace.clock, Worker(client, concurrency=4))
        took = time.perf_counter() - started

    assert done == Pass(delivered=4)
    assert took < 4 * 0.6 * 0.75  # one after another would take 2.4 s
