"""Imports write without SQLite's row-by-row foreign key look-ups; what they write must
still refer only to rows that exist, and later writes are checked again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import exc, insert

from leadflow.activity.import_service import import_events
from leadflow.clock import FrozenClock
from leadflow.contacts.imports import import_contacts
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.models import identities
from leadflow.contacts.service import capture_contact
from leadflow.storage.database import Database
from tests.files import write_csv

LIMIT = 10**9


def test_imports_refer_only_to_stored_rows_and_checks_come_back(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    capture_contact(db, clock, ContactInput(email="p3@acme.com", company="Acme"))
    people = [[f"p{i % 40}@acme.com", f"Name{i}", "Acme", "acme.com"] for i in range(120)]
    contacts_csv = write_csv(
        tmp_path / "c.csv", ["email", "first name", "company", "website"], people
    )
    events = [["page_view", "2024-03-01T10:00:00Z", f"p{i}@acme.com"] for i in range(60)]
    events_csv = write_csv(tmp_path / "e.csv", ["type", "timestamp", "email"], events)

    import_contacts(db, clock, contacts_csv, max_bytes=LIMIT, workers=2)
    import_events(db, clock, events_csv, max_bytes=LIMIT)

    with db.write() as conn:
        if db.is_sqlite:
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        dangling = insert(identities).values(
            contact_id=10**9, kind="email", value="x@y.com", created_at=clock.now()
        )
        with pytest.raises(exc.IntegrityError), conn.begin_nested():
            conn.execute(dangling)
