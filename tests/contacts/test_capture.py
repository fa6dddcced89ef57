from __future__ import annotations

from datetime import timedelta

import pytest

from leadflow.clock import FrozenClock
from leadflow.contacts.engine import prepare_contact, prepare_touch
from leadflow.contacts.inputs import AccountInput, ContactInput, TouchInput
from leadflow.contacts.queries import get_contact, list_contacts
from leadflow.contacts.service import capture_contact, upsert_contacts
from leadflow.errors import ValidationError
from leadflow.storage.database import Database


def test_capture_creates_contact_with_account_from_work_email(db: Database, clock: FrozenClock):
    result = capture_contact(
        db, clock, ContactInput(email="Jane.Doe@ACME.com", first_name="Jane", company="Acme Inc")
    )

    contact = get_contact(db, result.contact_id)
    assert result.created
    assert contact["email"] == "Jane.Doe@acme.com"
    assert contact["account"]["domain"] == "acme.com"
    assert contact["account"]["name"] == "Acme Inc"


def test_free_mail_contact_gets_no_account(db: Database, clock: FrozenClock):
    result = capture_contact(db, clock, ContactInput(email="someone@gmail.com"))

    assert get_contact(db, result.contact_id)["account"] is None


def test_known_identity_updates_instead_of_creating(db: Database, clock: FrozenClock):
    first = capture_contact(db, clock, ContactInput(email="jane@acme.com", first_name="Jane"))
    second = capture_contact(
        db, clock, ContactInput(email="JANE@acme.com", phone="+1 (415) 555-0100", last_name="Doe")
    )

    contact = get_contact(db, "jane@acme.com")
    assert second.contact_id == first.contact_id
    assert not second.created
    assert (contact["first_name"], contact["last_name"]) == ("Jane", "Doe")
    assert {(i["kind"], i["value"]) for i in contact["identities"]} == {
        ("email", "jane@acme.com"),
        ("phone", "+14155550100"),
    }
    assert len(list_contacts(db)) == 1


def test_phone_identity_finds_the_same_contact(db: Database, clock: FrozenClock):
    first = capture_contact(db, clock, ContactInput(phone="+44 20 7946 0958"))
    again = capture_contact(db, clock, ContactInput(phone="+442079460958", first_name="Ann"))

    assert again.contact_id == first.contact_id


def test_first_and_last_touch_follow_time_not_arrival_order(db: Database, clock: FrozenClock):
    early = clock.now() - timedelta(days=3)
    capture_contact(db, clock, ContactInput(email="a@acme.com"), touch=TouchInput("webinar"))
    capture_contact(
        db, clock, ContactInput(email="a@acme.com"), touch=TouchInput("referral", occurred_at=early)
    )
    clock.advance(timedelta(days=1))
    capture_contact(db, clock, ContactInput(email="a@acme.com"), touch=TouchInput("paid_ads"))

    row = list_contacts(db)[0]
    assert (row["first_channel"], row["last_channel"]) == ("referral", "paid_ads")


def test_same_touch_twice_is_stored_once(db: Database, clock: FrozenClock):
    touch = TouchInput("web_form", utm_source="google", utm_campaign="q4")
    capture_contact(db, clock, ContactInput(email="a@acme.com"), touch=touch)
    capture_contact(db, clock, ContactInput(email="a@acme.com"), touch=touch)

    assert len(get_contact(db, "a@acme.com")["touches"]) == 1


def test_explicit_account_fields_are_kept(db: Database, clock: FrozenClock):
    account = AccountInput(
        domain="https://www.globex.com/about",
        industry="Manufacturing",
        employee_count=250,
        annual_revenue=12e6,
        country="Germany",
    )
    result = capture_contact(db, clock, ContactInput(email="h@gmail.com", account=account))

    stored = get_contact(db, result.contact_id)["account"]
    assert stored["domain"] == "globex.com"
    assert (stored["industry"], stored["employee_count"], stored["country"]) == (
        "Manufacturing",
        250,
        "DE",
    )


@pytest.mark.parametrize(
    ("contact", "field"),
    [
        (ContactInput(email="not-an-email"), "email"),
        (ContactInput(email="a@b.com", phone="12"), "phone"),
        (ContactInput(email="a@b.com", country="Atlantis"), "country"),
        (ContactInput(email="a@b.com", timezone="Mars/Olympus"), "timezone"),
        (ContactInput(email="a@b.com", seniority="emperor"), "seniority"),
        (ContactInput(first_name="Nobody"), None),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(
    db: Database, clock: FrozenClock, contact: ContactInput, field: str | None
):
    with pytest.raises(ValidationError) as caught:
        capture_contact(db, clock, contact)

    assert caught.value.field == field
    assert list_contacts(db) == []


def test_unknown_channel_is_refused(db: Database, clock: FrozenClock):
    with pytest.raises(ValidationError, match="channel"):
        capture_contact(
            db, clock, ContactInput(email="a@acme.com"), touch=TouchInput("carrier pigeon")
        )


def test_a_batch_mixing_touch_fields_and_new_contacts_is_stored_whole(
    db: Database, clock: FrozenClock
):
    # Regression: one executemany needs every touch row to name the same columns.
    now = clock.now()
    items = [
        (prepare_contact(ContactInput(email=f"p{i}@acme.com")), prepare_touch(touch, now=now))
        for i, touch in enumerate(
            [
                TouchInput("web_form", utm_source="google"),
                TouchInput("referral"),
                TouchInput("webinar", campaign="q4", landing_page="/webinar"),
            ]
        )
    ]
    with db.write() as conn:
        results = upsert_contacts(conn, items, now=now)

    assert [r.created for r in results] == [True, True, True]
    assert len({r.contact_id for r in results}) == 3
    for i, result in enumerate(results):
        contact = get_contact(db, result.contact_id)
        assert contact["email"] == f"p{i}@acme.com"
        assert contact["first_touch_id"] == contact["last_touch_id"] == result.touch_id


def test_a_touch_key_stored_on_another_contact_stays_there(db: Database, clock: FrozenClock):
    touch = TouchInput("webinar", idempotency_key="shared-key")
    first = capture_contact(db, clock, ContactInput(email="a@acme.com"), touch=touch)
    other = capture_contact(db, clock, ContactInput(email="b@acme.com"), touch=touch)

    a, b = get_contact(db, "a@acme.com"), get_contact(db, "b@acme.com")
    assert other.created
    assert other.touch_id == first.touch_id
    assert a["first_touch_id"] == a["last_touch_id"] == first.touch_id
    assert (b["first_touch_id"], b["last_touch_id"], b["touches"]) == (None, None, [])


def test_new_and_known_contacts_in_one_batch_point_at_their_touches(
    db: Database, clock: FrozenClock
):
    now = clock.now()
    known = capture_contact(db, clock, ContactInput(email="k@acme.com"), touch=TouchInput("api"))
    touches = [
        TouchInput("webinar", occurred_at=now - timedelta(days=2)),  # earlier: the new first
        TouchInput("referral", occurred_at=now - timedelta(days=1)),
        TouchInput("social", occurred_at=now - timedelta(days=5)),
        TouchInput("email", occurred_at=now - timedelta(days=4)),
    ]
    emails = ["k@acme.com", "n@acme.com", "n@acme.com", "k@acme.com"]
    items = [
        (prepare_contact(ContactInput(email=e)), prepare_touch(t, now=now))
        for e, t in zip(emails, touches, strict=True)
    ]
    with db.write() as conn:
        results = upsert_contacts(conn, items, now=now)

    k, n = get_contact(db, "k@acme.com"), get_contact(db, "n@acme.com")
    assert [r.created for r in results] == [False, True, True, False]
    assert (k["first_touch_id"], k["last_touch_id"]) == (results[3].touch_id, known.touch_id)
    assert (n["first_touch_id"], n["last_touch_id"]) == (results[2].touch_id, results[1].touch_id)


def test_an_account_is_filled_in_never_overwritten(db: Database, clock: FrozenClock):
    capture_contact(db, clock, ContactInput(email="a@acme.com", company="Acme"))
    clock.advance(timedelta(hours=1))
    later = AccountInput(name="ACME Corp", industry="Software", employee_count=40)
    capture_contact(db, clock, ContactInput(email="b@acme.com", account=later))
    capture_contact(db, clock, ContactInput(email="c@acme.com", account=later))

    account = get_contact(db, "c@acme.com")["account"]
    assert (account["name"], account["industry"], account["employee_count"]) == (
        "Acme",
        "Software",
        40,
    )
