"""Batch recording: idempotency, identities, merged contacts, last activity, atomicity."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, literal, select, update

from leadflow.activity.inputs import EventInput
from leadflow.activity.models import activities
from leadflow.activity.queries import last_activity_at
from leadflow.activity.service import record_event, record_events
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.models import contacts, identities
from leadflow.contacts.queries import get_contact, list_contacts
from leadflow.contacts.service import capture_contact
from leadflow.errors import NotFound, StorageError, ValidationError
from leadflow.storage.database import Database


def _event(key: str, **overrides: Any) -> EventInput:
    values: dict[str, Any] = {"type": "page_view", "email": "a@acme.com", "idempotency_key": key}
    return EventInput(**(values | overrides))


def _stored(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(select(activities).order_by(activities.c.id)).mappings().all()
    return [dict(r) for r in rows]


def _merge_by_hand(db: Database, merged_id: int, survivor_id: int) -> None:
    # Only the tombstone matters to recording, so set it directly, as a merge leaves it.
    with db.write() as conn:
        conn.execute(
            update(contacts)
            .where(contacts.c.id == merged_id)
            .values(status="merged", merged_into_id=survivor_id)
        )


# -- idempotency ---------------------------------------------------------------------------


def test_a_key_repeated_in_one_batch_is_stored_once(db: Database, clock: FrozenClock):
    result = record_events(db, clock, [_event("k1"), _event("k2"), _event("k1", type="call")])

    assert (result.recorded, result.duplicates) == (2, 1)
    assert result.event_ids[2] is None
    assert [(r["idempotency_key"], r["type"]) for r in _stored(db)] == [
        ("k1", "page_view"),
        ("k2", "page_view"),
    ]


def test_a_resent_batch_stores_nothing_more(db: Database, clock: FrozenClock):
    batch = [_event(f"k{i}") for i in range(5)]
    first = record_events(db, clock, batch)

    again = record_events(db, clock, batch)

    assert (again.recorded, again.duplicates) == (0, 5)
    assert again.event_ids == (None,) * 5
    assert len(_stored(db)) == 5
    assert first.recorded == 5


def test_retries_mixed_with_new_events_give_ids_to_the_new_ones(db: Database, clock: FrozenClock):
    record_events(db, clock, [_event("old1"), _event("old2")])

    result = record_events(
        db, clock, [_event("old1"), _event("new1", type="call"), _event("old2"), _event("new2")]
    )

    assert (result.recorded, result.duplicates) == (2, 2)
    by_key = {r["idempotency_key"]: r["id"] for r in _stored(db)}
    assert result.event_ids == (None, by_key["new1"], None, by_key["new2"])


def test_event_ids_name_the_stored_rows(db: Database, clock: FrozenClock):
    at = clock.now() - timedelta(days=1)
    events = [
        _event(f"k{i}", occurred_at=at + timedelta(minutes=i), properties={"n": i})
        for i in range(3)
    ]

    result = record_events(db, clock, events)

    stored = {r["id"]: r for r in _stored(db)}
    for i, event_id in enumerate(result.event_ids):
        assert event_id is not None
        row = stored[event_id]
        assert (row["idempotency_key"], row["occurred_at"], row["properties"]) == (
            f"k{i}",
            at + timedelta(minutes=i),
            {"n": i},
        )
        assert row["recorded_at"] == clock.now()


def test_a_batch_larger_than_one_statement_is_recorded_whole(db: Database, clock: FrozenClock):
    events = [_event(f"k{i}", anonymous_id=f"v{i % 7}", email=None) for i in range(2_500)]
    events.append(events[3])  # a retry at the end, after the first statement's rows

    result = record_events(db, clock, events)

    assert (result.recorded, result.duplicates, result.contacts_created) == (2_500, 1, 7)
    assert len(set(result.event_ids[:2_500])) == 2_500


def test_a_retry_does_not_move_last_activity(db: Database, clock: FrozenClock):
    at = clock.now() - timedelta(hours=3)
    first = record_event(db, clock, _event("k1", occurred_at=at))

    record_event(db, clock, _event("k1", occurred_at=at + timedelta(hours=1)))

    contact_id = _contact_of(db, first.event_ids[0])
    assert get_contact(db, contact_id)["last_activity_at"] == at


# -- identities and contacts ---------------------------------------------------------------


def test_new_identities_become_contacts_that_keep_them(db: Database, clock: FrozenClock):
    result = record_events(
        db,
        clock,
        [
            _event("k1", email="New.Person@Example.com"),
            _event("k2", email=None, anonymous_id="visitor-9"),
            _event("k3", email="new.person@example.com"),
        ],
    )

    assert result.contacts_created == 2
    with db.read() as conn:
        owners = dict(conn.execute(select(identities.c.value, identities.c.contact_id)).all())
    ids = [_contact_of(db, i) for i in result.event_ids]
    assert ids[0] == ids[2] == owners["new.person@example.com"]
    assert ids[1] == owners["visitor-9"]
    assert get_contact(db, ids[0])["email"] == "New.Person@example.com"


def test_known_identities_create_nothing(db: Database, clock: FrozenClock):
    known = capture_contact(db, clock, ContactInput(email="a@acme.com", anonymous_id="v-1"))

    result = record_events(db, clock, [_event("k1"), _event("k2", email=None, anonymous_id="v-1")])

    assert result.contacts_created == 0
    assert {_contact_of(db, i) for i in result.event_ids} == {known.contact_id}
    assert len(list_contacts(db)) == 1


def test_contact_ids_and_identities_in_one_batch(db: Database, clock: FrozenClock):
    jane = capture_contact(db, clock, ContactInput(email="jane@acme.com")).contact_id

    result = record_events(
        db, clock, [_event("k1", email=None, contact_id=jane), _event("k2", email="bob@acme.com")]
    )

    assert _contact_of(db, result.event_ids[0]) == jane
    assert _contact_of(db, result.event_ids[1]) != jane


def test_a_merged_contacts_id_records_on_its_survivor(db: Database, clock: FrozenClock):
    merged = capture_contact(db, clock, ContactInput(email="old@acme.com")).contact_id
    survivor = capture_contact(db, clock, ContactInput(email="new@acme.com")).contact_id
    _merge_by_hand(db, merged, survivor)

    result = record_event(db, clock, _event("k1", email=None, contact_id=merged))

    assert _contact_of(db, result.event_ids[0]) == survivor
    assert get_contact(db, survivor)["last_activity_at"] == clock.now()
    with db.read() as conn:
        tombstone = conn.execute(select(last_activity_at(literal(merged)))).scalar_one()
    assert tombstone is None


def test_a_chain_of_merges_is_followed_to_its_end(db: Database, clock: FrozenClock):
    a, b, c = (
        capture_contact(db, clock, ContactInput(email=f"{n}@acme.com")).contact_id for n in "abc"
    )
    _merge_by_hand(db, a, b)
    _merge_by_hand(db, b, c)

    result = record_events(
        db, clock, [_event("k1", email=None, contact_id=a), _event("k2", email=None, contact_id=b)]
    )

    assert {_contact_of(db, i) for i in result.event_ids} == {c}


# -- last activity (derived from the log) ---------------------------------------------------


def test_last_activity_takes_the_latest_event_of_a_batch(db: Database, clock: FrozenClock):
    now = clock.now()
    times = [now - timedelta(hours=h) for h in (5, 1, 3)]

    result = record_events(db, clock, [_event(f"k{i}", occurred_at=t) for i, t in enumerate(times)])

    assert get_contact(db, _contact_of(db, result.event_ids[0]))["last_activity_at"] == times[1]


@pytest.mark.parametrize(
    "later",
    [timedelta(microseconds=1), timedelta(seconds=1), timedelta(days=400)],
    ids=["microsecond", "second", "year"],
)
def test_last_activity_is_the_latest_whatever_the_order(
    db: Database, clock: FrozenClock, later: timedelta
):
    # A time on a whole second is the case where text forms could sort wrongly.
    at = clock.now().replace(microsecond=0) - timedelta(days=500)
    first = record_event(db, clock, _event("k1", occurred_at=at + later))
    contact_id = _contact_of(db, first.event_ids[0])

    record_event(db, clock, _event("k2", occurred_at=at))
    assert get_contact(db, contact_id)["last_activity_at"] == at + later

    record_event(db, clock, _event("k3", occurred_at=at + 2 * later))
    assert get_contact(db, contact_id)["last_activity_at"] == at + 2 * later


def test_times_in_other_zones_are_compared_as_instants(db: Database, clock: FrozenClock):
    from zoneinfo import ZoneInfo

    utc_at = clock.now() - timedelta(hours=2)
    # One hour after utc_at, written in a zone ahead of UTC: later, though its digits are less.
    tokyo_at = (utc_at + timedelta(hours=1)).astimezone(ZoneInfo("Asia/Tokyo"))
    first = record_event(db, clock, _event("k1", occurred_at=utc_at))

    record_event(db, clock, _event("k2", occurred_at=tokyo_at))

    assert get_contact(db, _contact_of(db, first.event_ids[0]))["last_activity_at"] == tokyo_at


# -- atomicity -----------------------------------------------------------------------------


def test_an_unknown_contact_id_rejects_the_batch_with_its_new_contacts(
    db: Database, clock: FrozenClock
):
    batch = [_event("k1", email="fresh@acme.com"), _event("k2", email=None, contact_id=999)]

    with pytest.raises(NotFound, match="999"):
        record_events(db, clock, batch)

    assert _stored(db) == []
    assert list_contacts(db) == []


def test_properties_that_are_not_json_reject_the_batch(db: Database, clock: FrozenClock):
    batch = [_event("k1"), _event("k2", properties={"at": datetime(2026, 1, 1)})]

    with pytest.raises(ValidationError, match=r"events\[1\]\.properties"):
        record_events(db, clock, batch)

    assert _stored(db) == []


def test_an_invalid_email_rejects_the_batch(db: Database, clock: FrozenClock):
    with pytest.raises(ValidationError, match=r"events\[1\]\.email"):
        record_events(db, clock, [_event("k1"), _event("k2", email="not-an-address")])

    assert _stored(db) == []


def test_sqlite_refuses_ids_it_cannot_read_back(db: Database, clock: FrozenClock):
    if not db.is_sqlite:
        pytest.skip("SQLite reads new ids back by range; PostgreSQL uses RETURNING")
    contact_id = capture_contact(db, clock, ContactInput(email="a@acme.com")).contact_id
    with db.write() as conn:
        # At the largest rowid SQLite picks new ids at random, below the previous maximum.
        conn.execute(
            insert(activities).values(
                id=2**63 - 1,
                contact_id=contact_id,
                type="call",
                occurred_at=clock.now(),
                recorded_at=clock.now(),
                properties={},
                idempotency_key="top",
            )
        )

    with pytest.raises(StorageError, match="ids are not increasing"):
        record_event(db, clock, _event("k1"))

    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(activities)).scalar_one() == 1


def _contact_of(db: Database, event_id: int | None) -> int:
    assert event_id is not None
    with db.read() as conn:
        return int(
            conn.execute(
                select(activities.c.contact_id).where(activities.c.id == event_id)
            ).scalar_one()
        )


# -- references ----------------------------------------------------------------------------


def test_a_batch_leaves_no_dangling_reference_and_foreign_keys_on(db: Database, clock: FrozenClock):
    # On SQLite the batch is written without row-by-row foreign-key look-ups, because it
    # finds or makes every contact it names in its transaction: nothing may dangle after.
    known = capture_contact(db, clock, ContactInput(email="known@acme.com")).contact_id
    record_events(
        db,
        clock,
        [
            _event("by-id", email=None, contact_id=known, type="demo_requested"),
            _event("new-by-email", email="new@acme.com", type="pricing_page_view"),
            _event("new-by-cookie", email=None, anonymous_id="v-1", type="form_submit"),
        ],
    )
    with pytest.raises(NotFound):
        record_events(db, clock, [_event("gone", email=None, contact_id=known + 1000)])

    with db.write() as conn:
        if db.is_sqlite:
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        dangling = conn.execute(
            select(func.count())
            .select_from(activities.outerjoin(contacts, contacts.c.id == activities.c.contact_id))
            .where(contacts.c.id.is_(None))
        ).scalar()
    assert dangling == 0
