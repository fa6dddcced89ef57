"""Group commit: concurrent submissions recorded together, each answered on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import Future

import pytest
from sqlalchemy import event, func, select

from leadflow.activity.inputs import EventInput
from leadflow.activity.models import activities
from leadflow.activity.service import RecordResult
from leadflow.activity.writer import EventWriter
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.service import capture_contact
from leadflow.errors import NotFound, ValidationError
from leadflow.storage.database import Database


@pytest.fixture
def writer(db: Database, clock: FrozenClock) -> Iterator[EventWriter]:
    made = EventWriter(db, clock)
    yield made
    made.close()


@pytest.fixture
def commits(db: Database) -> Iterator[list[int]]:
    """One entry per committed write transaction."""
    seen: list[int] = []
    engine = db._writer

    def count(_conn: object) -> None:
        seen.append(1)

    event.listen(engine, "commit", count)
    yield seen
    event.remove(engine, "commit", count)


def _stored(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(activities)).scalar_one())


def _queued_behind_a_write(
    db: Database, writer: EventWriter, batches: list[list[EventInput]]
) -> list[Future[RecordResult]]:
    """Submit the batches while another write holds the lock, so they queue up together."""
    with db.write():
        blocker = writer.submit([EventInput(type="page_view", email="first@acme.com")])
        futures = [writer.submit(b) for b in batches]
    blocker.result()
    return futures


def test_waiting_submissions_share_one_transaction(
    db: Database, writer: EventWriter, commits: list[int]
):
    batches = [[EventInput(type="page_view", email=f"p{i}@acme.com")] for i in range(30)]

    futures = _queued_behind_a_write(db, writer, batches)
    results = [f.result() for f in futures]

    assert [r.recorded for r in results] == [1] * 30
    assert all(r.event_ids[0] is not None for r in results)
    assert [r.contacts_created for r in results] == [1] * 30
    assert _stored(db) == 31
    # The holder's own commit, then the first submission and the thirty in one or two
    # transactions (depending on whether the writer had taken the first before the rest
    # arrived), never one each.
    assert len(commits) <= 3


def test_an_invalid_submission_fails_alone(db: Database, writer: EventWriter):
    good = [EventInput(type="page_view", email="a@acme.com")]
    bad = [
        EventInput(type="page_view", email="b@acme.com"),
        EventInput(type="Bad Type", email="c@acme.com"),
    ]
    other = [EventInput(type="page_view", email="d@acme.com")]

    first, failing, last = _queued_behind_a_write(db, writer, [good, bad, other])

    with pytest.raises(ValidationError, match=r"events\[1\]\.type"):
        failing.result()
    assert (first.result().recorded, last.result().recorded) == (1, 1)
    assert _stored(db) == 1 + 2  # the holder's, and the two good ones: nothing of the bad


def test_a_submission_that_fails_in_the_database_fails_alone(db: Database, writer: EventWriter):
    good = [EventInput(type="page_view", email="a@acme.com", idempotency_key="g1")]
    unknown = [EventInput(type="page_view", contact_id=999_999, idempotency_key="u1")]
    other = [EventInput(type="page_view", email="b@acme.com", idempotency_key="g2")]

    first, failing, last = _queued_behind_a_write(db, writer, [good, unknown, other])

    with pytest.raises(NotFound):
        failing.result()
    assert (first.result().recorded, last.result().recorded) == (1, 1)
    assert _stored(db) == 3


def test_the_same_key_in_two_waiting_submissions_is_stored_once(db: Database, writer: EventWriter):
    same = [EventInput(type="email_clicked", email="a@acme.com", idempotency_key="k")]

    first, second = _queued_behind_a_write(db, writer, [same, same])

    assert (first.result().recorded, first.result().duplicates) == (1, 0)
    assert (second.result().recorded, second.result().duplicates) == (0, 1)
    assert second.result().event_ids == (None,)


def test_a_new_contact_is_credited_to_the_first_submission_naming_it(
    db: Database, writer: EventWriter
):
    one = [EventInput(type="page_view", anonymous_id="v-1", idempotency_key="a")]
    two = [EventInput(type="page_view", anonymous_id="v-1", idempotency_key="b")]

    first, second = _queued_behind_a_write(db, writer, [one, two])

    assert (first.result().contacts_created, second.result().contacts_created) == (1, 0)
    assert first.result().contact_ids == second.result().contact_ids


def test_results_name_the_contacts(db: Database, clock: FrozenClock, writer: EventWriter):
    known = capture_contact(db, clock, ContactInput(email="known@acme.com")).contact_id

    result = writer.record([EventInput(type="page_view", email="KNOWN@acme.com")])

    assert result.contact_ids == (known,)
    assert result.created_ids == frozenset()


def test_record_async_waits_for_the_commit(db: Database, writer: EventWriter):
    async def main() -> list[RecordResult]:
        batches = [[EventInput(type="page_view", email=f"p{i}@acme.com")] for i in range(10)]
        return await asyncio.gather(*(writer.record_async(b) for b in batches))

    results = asyncio.run(main())

    assert sum(r.recorded for r in results) == 10
    assert _stored(db) == 10


def test_close_writes_what_is_queued_and_refuses_more(db: Database, clock: FrozenClock):
    writer = EventWriter(db, clock)
    with db.write():  # the writer waits on this lock while the five queue up
        futures = [writer.submit([EventInput(type="x", email=f"p{i}@acme.com")]) for i in range(5)]
    writer.close()

    assert [f.result().recorded for f in futures] == [1] * 5
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit([EventInput(type="x", email="late@acme.com")])
