"""The Idempotency-Key store on a real database: replay, 409, expiry, one run only."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, func, select

from leadflow.access.idempotency import (
    Idempotency,
    KeyReused,
    StoredResponse,
    purge_expired,
    request_hash,
)
from leadflow.access.models import idempotency_records
from leadflow.contacts.models import accounts
from leadflow.errors import ValidationError

BODY = request_hash("POST", "/f/form_x", "application/json", b'{"email": "a@example.com"}')
OTHER = request_hash("POST", "/f/form_x", "application/json", b'{"email": "b@example.com"}')


class Work:
    """Writes a row (so a second run would show) and answers with the run's number."""

    def __init__(self, pause: float = 0.0) -> None:
        self.runs = 0
        self.pause = pause

    def __call__(self, conn: Connection) -> StoredResponse:
        self.runs += 1
        now = datetime(2026, 11, 2, tzinfo=UTC)
        conn.execute(
            accounts.insert().values(
                domain=f"run{self.runs}.example", properties={}, created_at=now, updated_at=now
            )
        )
        time.sleep(self.pause)  # long enough for a concurrent duplicate to start meanwhile
        return StoredResponse(201, "application/json", f'{{"run": {self.runs}}}'.encode())


@pytest.fixture
def store(db, clock):
    return Idempotency(db, clock)


def count(db, table) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_the_same_key_and_body_replay_the_response_without_running_again(store, db):
    work = Work()
    first = store.run(scope="form:x", key="k-1", request=BODY, work=work)
    again = store.run(scope="form:x", key="k-1", request=BODY, work=work)

    assert (first.status_code, first.body, first.replayed) == (201, b'{"run": 1}', False)
    assert (again.status_code, again.body, again.replayed) == (201, b'{"run": 1}', True)
    assert work.runs == 1
    assert count(db, accounts) == 1


def test_the_same_key_with_another_body_is_a_conflict(store, db):
    store.run(scope="form:x", key="k-1", request=BODY, work=Work())

    with pytest.raises(KeyReused) as caught:
        store.run(scope="form:x", key="k-1", request=OTHER, work=Work())

    assert caught.value.code == "idempotency_key_reused"
    assert count(db, accounts) == 1


def test_scopes_do_not_share_keys(store):
    work = Work()
    store.run(scope="form:x", key="k-1", request=BODY, work=work)
    store.run(scope="form:y", key="k-1", request=OTHER, work=work)

    assert work.runs == 2


def test_failed_work_keeps_nothing_so_a_retry_runs(store, db):
    def failing(conn: Connection) -> StoredResponse:
        Work()(conn)
        raise ValidationError("bad", field="email")

    with pytest.raises(ValidationError):
        store.run(scope="form:x", key="k-1", request=BODY, work=failing)
    work = Work()
    store.run(scope="form:x", key="k-1", request=BODY, work=work)

    assert work.runs == 1
    assert count(db, accounts) == 1


def test_keys_are_kept_a_day_then_purged(store, db, clock):
    work = Work()
    store.run(scope="form:x", key="k-1", request=BODY, work=work)
    clock.advance(timedelta(hours=23, minutes=59))
    store.run(scope="form:x", key="k-1", request=BODY, work=work)
    assert work.runs == 1

    clock.advance(timedelta(minutes=2))
    assert purge_expired(db, clock.now()) == 1
    assert count(db, idempotency_records) == 0
    store.run(scope="form:x", key="k-1", request=OTHER, work=work)
    assert work.runs == 2


def test_an_expired_key_not_yet_purged_is_a_new_key(store, db, clock):
    work = Work()
    store.run(scope="form:x", key="k-1", request=BODY, work=work)
    clock.advance(timedelta(hours=25))
    store._next_purge = clock.now() + timedelta(hours=1)  # no purge ran meanwhile

    store.run(scope="form:x", key="k-1", request=OTHER, work=work)

    assert work.runs == 2
    assert count(db, idempotency_records) == 1


@pytest.mark.parametrize("key", ["", "with space", "x" * 256, "naïve"])
def test_unusable_keys_are_refused(store, key):
    with pytest.raises(ValidationError) as caught:
        store.run(scope="form:x", key=key, request=BODY, work=Work())

    assert caught.value.field == "Idempotency-Key"


def test_a_concurrent_duplicate_does_the_work_once(store, db):
    work = Work(pause=0.3)

    def send() -> StoredResponse:
        return store.run(scope="form:x", key="k-1", request=BODY, work=work)

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda _: send(), range(2)))

    # Both get the one response; one run's writes are committed (on PostgreSQL the other
    # ran too, and was rolled back when it could not keep its response).
    assert {r.body for r in responses} == {responses[0].body}
    assert sorted(r.replayed for r in responses) == [False, True]
    assert count(db, accounts) == 1
    assert count(db, idempotency_records) == 1
