"""A person with a record in every table that can refer to them, a contact merged into
them, and a bystander; and a dump of the whole database to search for what is left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, inspect, select, table, text

from leadflow.activity.inputs import EventInput
from leadflow.activity.service import record_events
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import AccountInput, ContactInput, TouchInput
from leadflow.contacts.merge import merge_contacts
from leadflow.contacts.service import capture_contact
from leadflow.lifecycle.deals import open_deal
from leadflow.lifecycle.service import move_contact, qualify
from leadflow.routing.models import notices, tasks, users
from leadflow.storage.database import Database
from leadflow.webhooks.engine import deal_closed
from leadflow.webhooks.models import webhook_events

EMAIL = "zeb.quixote@lamancha.example"
OTHER_EMAIL = "zq1605@home.example"
PHONE = "+14155550199"
# What must not be found anywhere after the erasure (compared lower-cased).
TRACES = (
    "zeb.quixote",
    "zq1605",
    "zebulon",
    "quixote",
    "4155550199",
    "4155550177",
    "crm-zq-7",
    "visitor-zq",
    "windmills",
    "dulcinea",
)


@dataclass(frozen=True)
class Person:
    id: int  # the survivor
    merged_id: int  # the contact merged into it
    bystander_id: int


def _capture_quixote(db: Database, clock: FrozenClock) -> int:
    contact = ContactInput(
        email=EMAIL,
        phone="+1 415 555 0199",
        external_id="crm-zq-7",
        first_name="Zebulon",
        last_name="Quixote",
        title="Knight errant",
        seniority="c_level",
        country="ES",
        properties={"hobby": "tilting at windmills"},
        account=AccountInput(domain="lamancha.example", name="La Mancha Estates"),
    )
    touch = TouchInput(
        "paid_ads",
        occurred_at=clock.now() - timedelta(days=3),
        campaign="spring",
        utm_source="google",
        utm_medium="cpc",
        utm_campaign="spring",
        utm_term="zebulon quixote knight",
        utm_content="ad for zeb.quixote",
        referrer=f"https://search.example/?q={EMAIL}",
        landing_page="https://site.example/offer?name=Zebulon+Quixote",
    )
    return capture_contact(db, clock, contact, touch=touch).contact_id


def _capture_twin(db: Database, clock: FrozenClock) -> int:
    """The same person under another address, merged into the first later."""
    contact = ContactInput(
        email=OTHER_EMAIL,
        phone="+1 415 555 0177",
        anonymous_id="visitor-zq",
        first_name="Zeb",
        last_name="Quixote",
        properties={"love": "Dulcinea"},
    )
    touch = TouchInput("web_form", occurred_at=clock.now() - timedelta(days=2), campaign="blog")
    twin = capture_contact(db, clock, contact, touch=touch).contact_id
    record_events(
        db,
        clock,
        [
            EventInput(
                type="page_view",
                contact_id=twin,
                properties={"path": "/zebulon"},
                idempotency_key="pv:site:visitor-zq:v1",
            )
        ],
    )
    return twin


def _walk_to_opportunity(db: Database, clock: FrozenClock, contact_id: int) -> None:
    for stage in ("lead", "mql", "sql"):
        move_contact(db, clock, contact_id, stage, by="sam", reason=f"Zebulon Quixote: {stage}")
    reply = EventInput(
        type="email_replied", email=EMAIL, properties={"text": "Dulcinea says hello, Zebulon"}
    )
    record_events(db, clock, [reply, EventInput(type="demo_requested", contact_id=contact_id)])
    qualify(db, clock, contact_id, {"need": "high", "timing": "now"}, by="sam")
    open_deal(db, clock, contact_id, amount=Decimal("12000.50"), by="sam")


def _routing_and_outbox(db: Database, clock: FrozenClock, contact_id: int) -> None:
    """A task, a notice and webhook events about the person, as routing and the outbox
    write them."""
    now = clock.now()
    with db.write() as conn:
        conn.execute(
            insert(users).values(
                id="olga",
                name="Olga",
                email="olga@seller.example",
                role="sales",
                capacity=10,
                timezone="UTC",
                active=True,
            )
        )
        conn.execute(
            insert(tasks).values(
                contact_id=contact_id,
                owner_id="olga",
                kind="follow_up",
                title="Call Zebulon back",
                status="done",
                created_at=now,
                due_at=now,
                done_at=now,
                note="Zebulon prefers +1 415 555 0199",
            )
        )
        conn.execute(
            insert(tasks).values(
                contact_id=contact_id,
                owner_id="olga",
                kind="first_touch",
                title="First touch",
                status="open",
                created_at=now,
                due_at=now + timedelta(hours=4),
            )
        )
        conn.execute(
            insert(notices).values(
                kind="handoff",
                recipient="olga",
                channel="",
                subject=f"New prospect for you: contact {contact_id}",
                data={
                    "contact_id": contact_id,
                    "rule": "spain",
                    "body": "Zebulon Quixote from La Mancha",
                    "email": "olga@seller.example",
                },
                status="pending",
                attempts=0,
                created_at=now,
                idempotency_key=f"handoff:{contact_id}",
            )
        )
        conn.execute(
            insert(webhook_events),
            [
                {
                    "topic": "contact.created",
                    "payload": {
                        "contact": {"id": contact_id, "email": EMAIL, "last_name": "Quixote"}
                    },
                    "created_at": now,
                },
                {
                    "topic": "stage.changed",
                    "payload": {"contact_id": contact_id, "to_stage": "sql", "name": "Zebulon"},
                    "created_at": now,
                },
                {
                    "topic": "deal.won",
                    "payload": deal_closed(
                        7, contact_id, owner_id="olga", amount=None, currency="EUR", closed_at=now
                    ),
                    "created_at": now,
                },
            ],
        )


@pytest.fixture
def person(db: Database, clock: FrozenClock) -> Person:
    quixote = _capture_quixote(db, clock)
    twin = _capture_twin(db, clock)
    bystander = capture_contact(
        db, clock, ContactInput(email="ann.lee@acme.example", first_name="Ann", last_name="Lee")
    ).contact_id
    merge_contacts(db, clock, quixote, twin, merged_by="sam", reason="Zebulon twice")
    _walk_to_opportunity(db, clock, quixote)
    _routing_and_outbox(db, clock, quixote)
    clock.advance(timedelta(hours=1))
    return Person(quixote, twin, bystander)


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in the database (not only those leadflow declares)."""
    with db.read() as conn:
        names = sorted(inspect(conn).get_table_names())
        return {
            name: sorted(
                (tuple(r) for r in conn.execute(select(text("*")).select_from(table(name)))),
                key=repr,
            )
            for name in names
        }


def traces_in(db: Database) -> list[tuple[str, str]]:
    """(table, trace) for each trace of the person found anywhere in the database."""
    found = []
    for name, rows in dump(db).items():
        text_of_table = repr(rows).lower()
        found += [(name, t) for t in TRACES if t in text_of_table]
    return found
