"""The batch writer under upsert_contacts: captures as plain tuples (what import workers send)."""

from __future__ import annotations

import pickle

from leadflow.clock import FrozenClock
from leadflow.contacts.engine import prepare_contact, prepare_touch
from leadflow.contacts.inputs import AccountInput, ContactInput, TouchInput
from leadflow.contacts.queries import get_contact
from leadflow.contacts.service import capture_row, upsert_contacts, upsert_rows
from leadflow.storage.database import Database


def _row(clock: FrozenClock, contact: ContactInput, touch: TouchInput | None = None):
    prepared = prepare_touch(touch, now=clock.now()) if touch else None
    return capture_row(prepare_contact(contact), prepared)


def test_a_capture_row_is_plain_data(clock: FrozenClock):
    row = _row(
        clock,
        ContactInput(email="ann@acme.com", account=AccountInput(domain="acme.com")),
        TouchInput("webinar", campaign="Q4"),
    )

    # Worker processes pickle these rows: no leadflow class may travel with them.
    assert b"leadflow" not in pickle.dumps(row)
    assert pickle.loads(pickle.dumps(row)) == row


def test_upsert_rows_merges_a_batch_as_upsert_contacts_does(db: Database, clock: FrozenClock):
    rows = [
        _row(clock, ContactInput(email="ann@acme.com", first_name="Ann", title="CTO")),
        _row(clock, ContactInput(email="ann@acme.com", phone="+14155550100", title="CEO")),
        _row(clock, ContactInput(email="bob@acme.com", company="Acme"), TouchInput("webinar")),
    ]

    with db.write() as conn:
        batch = upsert_rows(conn, rows, now=clock.now())

    ann = get_contact(db, "ann@acme.com")
    assert batch.contact_ids[0] == batch.contact_ids[1] == ann["id"]
    assert batch.created == {ann["id"], batch.contact_ids[2]}
    assert (ann["first_name"], ann["title"], ann["phone"]) == ("Ann", "CEO", "+14155550100")
    assert list(batch.touch_ids) == [2]
    assert get_contact(db, "bob@acme.com")["account"]["name"] == "Acme"


def test_upsert_rows_and_upsert_contacts_agree_on_a_known_contact(db: Database, clock: FrozenClock):
    contact = ContactInput(email="ann@acme.com", first_name="Ann")
    with db.write() as conn:
        first = upsert_contacts(conn, [(prepare_contact(contact), None)], now=clock.now())[0]
        again = upsert_rows(conn, [_row(clock, contact)], now=clock.now())

    assert first.created
    assert again.contact_ids == [first.contact_id]
    assert again.created == set()
