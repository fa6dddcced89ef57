"""The batch writer under upsert_contacts: captures as plain tuples (what import workers send)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select

from leadflow.clock import FrozenClock
from leadflow.contacts.engine import prepare_contact, prepare_touch
from leadflow.contacts.inputs import AccountInput, ContactInput, TouchInput
from leadflow.contacts.models import accounts, contacts, identities
from leadflow.contacts.queries import get_contact
from leadflow.contacts.service import Written, capture_row, upsert_contacts, upsert_rows
from leadflow.contacts.touch_log import _spans
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


def test_rows_with_and_without_rare_columns_store_what_each_gives(db: Database, clock: FrozenClock):
    # Contacts without timezone and language, and touches without text, go through shorter
    # statements than the others of the same batch.
    rows = [
        _row(clock, ContactInput(email="ann@acme.com", timezone="Europe/Paris", language="fr")),
        _row(clock, ContactInput(email="bob@acme.com"), TouchInput("webinar")),
        _row(clock, ContactInput(email="cy@acme.com"), TouchInput("webinar", utm_source="li")),
    ]

    with db.write() as conn:
        upsert_rows(conn, rows, now=clock.now())

    ann, bob, cy = (get_contact(db, f"{n}@acme.com") for n in ("ann", "bob", "cy"))
    assert (ann["timezone"], ann["language"], ann["first_touch_id"]) == ("Europe/Paris", "fr", None)
    assert (bob["timezone"], bob["language"], bob["stage"]) == (None, None, cy["stage"])
    assert [(t["channel"], t["utm_source"]) for t in bob["touches"]] == [("webinar", None)]
    assert [(t["channel"], t["utm_source"]) for t in cy["touches"]] == [("webinar", "li")]
    assert bob["first_touch_id"] == bob["touches"][0]["id"] != cy["first_touch_id"]


def test_upsert_rows_and_upsert_contacts_agree_on_a_known_contact(db: Database, clock: FrozenClock):
    contact = ContactInput(email="ann@acme.com", first_name="Ann")
    with db.write() as conn:
        first = upsert_contacts(conn, [(prepare_contact(contact), None)], now=clock.now())[0]
        again = upsert_rows(conn, [_row(clock, contact)], now=clock.now())

    assert first.created
    assert again.contact_ids == [first.contact_id]
    assert again.created == set()


def _account_row(db: Database, domain: str) -> tuple[object, ...]:
    with db.read() as conn:
        row = conn.execute(
            select(
                accounts.c.id, accounts.c.name, accounts.c.industry, accounts.c.employee_count
            ).where(accounts.c.domain == domain)
        ).one()
    return tuple(row)


def test_batches_sharing_written_fill_accounts_as_separate_batches_do(
    db: Database, clock: FrozenClock
):
    def batches(written: Written | None) -> None:
        with db.write() as conn:
            for account in (
                AccountInput(domain="acme.com", name="Acme"),
                AccountInput(domain="acme.com", industry="Software"),  # fills a gap
                AccountInput(domain="acme.com", name="Other", employee_count=40),  # keeps Acme
            ):
                row = _row(clock, ContactInput(email="ann@acme.com", account=account))
                upsert_rows(conn, [row], now=clock.now(), written=written)

    batches(Written())
    remembered = _account_row(db, "acme.com")
    with db.write() as conn:
        conn.execute(delete(identities))
        conn.execute(delete(contacts))
        conn.execute(delete(accounts))
    batches(None)

    assert remembered[1:] == _account_row(db, "acme.com")[1:] == ("Acme", "Software", 40)


def test_written_remembers_what_the_transaction_wrote(db: Database, clock: FrozenClock):
    written = Written()
    row = _row(clock, ContactInput(email="ann@acme.com", account=AccountInput(industry="Retail")))
    with db.write() as conn:
        upsert_rows(conn, [row], now=clock.now(), written=written)

    account_id, name, industry, _ = _account_row(db, "acme.com")
    assert written.accounts["acme.com"][:3] == (account_id, name, industry) == (1, None, "Retail")


@given(
    st.lists(st.tuples(st.integers(1, 5), st.integers(0, 3)), max_size=30, unique_by=lambda t: t[0])
)
def test_touch_spans_are_each_contacts_earliest_and_latest(touch_days: list[tuple[int, int]]):
    # (touch id, contact id, time); equal times are ordered by touch id
    start = datetime(2026, 1, 1, tzinfo=UTC)
    found = [(tid, tid % 2, start + timedelta(days=day)) for tid, day in touch_days]
    by_time = sorted(found, key=lambda f: (f[2], f[0]))

    spans = _spans(found)

    assert set(spans) == {cid for _, cid, _ in found}
    for cid, (first, last) in spans.items():
        mine = [(at, tid) for tid, c, at in by_time if c == cid]
        assert (first, last) == (mine[0], mine[-1])
