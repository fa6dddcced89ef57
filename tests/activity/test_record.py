from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from leadflow.activity.engine import prepare_event
from leadflow.activity.inputs import EventInput
from leadflow.activity.models import activities
from leadflow.activity.service import record_event, record_events
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.queries import get_contact, list_contacts
from leadflow.contacts.service import capture_contact
from leadflow.errors import NotFound, ValidationError
from leadflow.storage.database import Database


def _count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(activities)).scalar_one())


def test_same_idempotency_key_is_stored_once(db: Database, clock: FrozenClock):
    event = EventInput(type="page_view", email="a@acme.com", idempotency_key="k1")

    first = record_event(db, clock, event)
    second = record_event(db, clock, event)

    assert (first.recorded, second.recorded, second.duplicates) == (1, 0, 1)
    assert _count(db) == 1


def test_keyless_retry_of_the_same_event_is_stored_once(db: Database, clock: FrozenClock):
    at = clock.now()
    event = EventInput(
        type="email_clicked", email="a@acme.com", occurred_at=at, properties={"u": 1}
    )

    record_events(db, clock, [event, event])
    record_event(db, clock, event)

    assert _count(db) == 1


def test_unknown_identity_creates_one_contact(db: Database, clock: FrozenClock):
    result = record_events(
        db,
        clock,
        [
            EventInput(type="page_view", anonymous_id="v-1", properties={"n": 1}),
            EventInput(type="page_view", anonymous_id="v-1", properties={"n": 2}),
        ],
    )

    assert (result.recorded, result.contacts_created) == (2, 1)
    assert len(list_contacts(db)) == 1


def test_events_attach_to_the_contact_known_by_email(db: Database, clock: FrozenClock):
    captured = capture_contact(db, clock, ContactInput(email="jane@acme.com"))
    later = clock.now() + timedelta(hours=2)

    record_event(
        db, clock, EventInput(type="demo_requested", email="JANE@acme.com", occurred_at=later)
    )

    assert get_contact(db, captured.contact_id)["last_activity_at"] == later


def test_a_bad_event_rejects_the_whole_batch(db: Database, clock: FrozenClock):
    batch = [
        EventInput(type="page_view", email="a@acme.com"),
        EventInput(type="Page View!", email="a@acme.com"),
    ]

    with pytest.raises(ValidationError, match=r"events\[1\]\.type"):
        record_events(db, clock, batch)

    assert _count(db) == 0
    assert list_contacts(db) == []


def test_unknown_contact_id_is_not_found(db: Database, clock: FrozenClock):
    with pytest.raises(NotFound):
        record_event(db, clock, EventInput(type="call", contact_id=999))
    assert _count(db) == 0


@pytest.mark.parametrize(
    "properties",
    [{"score": float("nan")}, {"at": float("inf")}, {"when": timedelta(days=1)}],
)
def test_properties_that_are_not_json_are_refused(
    db: Database, clock: FrozenClock, properties: dict[str, object]
):
    with pytest.raises(ValidationError, match="properties"):
        record_event(db, clock, EventInput(type="x", email="a@acme.com", properties=properties))

    assert _count(db) == 0


def test_properties_keep_nulls_big_integers_and_unicode(db: Database, clock: FrozenClock):
    properties = {"none": None, "big": 2**70, "name": "Zoë 東京 🚀", "nested": {"b": 1, "a": [1]}}

    record_event(db, clock, EventInput(type="x", email="a@acme.com", properties=properties))

    with db.read() as conn:
        stored = conn.execute(select(activities.c.properties)).scalar_one()
    assert stored == properties


def test_keyless_unicode_event_keeps_its_derived_key(clock: FrozenClock):
    # Derived keys hash the ASCII-escaped JSON text: a retry sent to a newer version must
    # still be recognised as the same event.
    event = EventInput(
        type="x", email="a@acme.com", occurred_at=clock.now(), properties={"n": "Zoë"}
    )
    prepared = prepare_event(event, now=clock.now())

    # The key 0.1.0 derived for this event (before properties were stored as UTF-8).
    assert prepared.idempotency_key == "e:cdceddd5531c2490fdea9a9f3e006031effc287f"
    assert prepared.properties_json == '{"n":"Zoë"}'
