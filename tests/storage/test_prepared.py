"""Prepared statements: compiled once, constants processed, ids and times as parameters."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, select

from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.models import contacts
from leadflow.contacts.service import capture_contact
from leadflow.storage.database import Database
from leadflow.storage.metadata import UtcDateTime
from leadflow.storage.prepared import Prepared, ids_in


def test_ids_and_times_are_parameters_and_constants_keep_their_types(
    db: Database, clock: FrozenClock
):
    made = []
    for n in range(3):
        made.append(capture_contact(db, clock, ContactInput(email=f"p{n}@acme.com")).contact_id)
        clock.advance(timedelta(hours=1))
    with db.read() as conn:
        query = select(contacts.c.id).where(
            ids_in(contacts.c.id, "ids", conn.dialect),
            contacts.c.status.in_(["active", "merged"]),  # a constant list, rendered once
            contacts.c.created_at >= bindparam("since", type_=UtcDateTime),
        )
        prepared = Prepared(query, conn.dialect, given=["since"], ids=["ids"])
        since = clock.now() - timedelta(hours=2)  # the second and third contacts

        found = prepared.execute(conn, {"ids": [made[0], made[1], 999], "since": since})
        everyone = prepared.execute(conn, {"ids": made, "since": since - timedelta(days=1)})
        nobody = prepared.execute(conn, {"ids": [], "since": since})

    assert [r[0] for r in found] == [made[1]]
    assert sorted(r[0] for r in everyone) == made
    assert nobody == []
