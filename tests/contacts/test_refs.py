"""Naming a contact: an id, an email, a phone, or kind:value."""

from __future__ import annotations

import pytest

from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.queries import resolve_contact_id
from leadflow.contacts.service import capture_contact
from leadflow.errors import NotFound
from leadflow.storage.database import Database


def test_a_contact_is_found_by_id_email_and_external_id(db: Database, clock: FrozenClock):
    made = capture_contact(db, clock, ContactInput(email="Ann@Acme.com", external_id="crm-1"))

    with db.read() as conn:
        found = {
            resolve_contact_id(conn, ref)
            for ref in (
                made.contact_id,
                str(made.contact_id),
                " ann@acme.com ",
                "external_id:crm-1",
            )
        }

    assert found == {made.contact_id}


@pytest.mark.parametrize("ref", ["²", "١٢", "12²", "nobody@acme.com", "external_id:none"])
def test_unknown_or_non_ascii_digit_refs_are_not_found(db: Database, ref: str):
    # Unicode digits pass str.isdigit() but not int(): they must be a clean NotFound.
    with db.read() as conn, pytest.raises(NotFound):
        resolve_contact_id(conn, ref)
