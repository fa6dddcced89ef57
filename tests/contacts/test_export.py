from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, update

from leadflow.clock import FrozenClock
from leadflow.contacts.export import export_contacts
from leadflow.contacts.imports import import_contacts
from leadflow.contacts.inputs import AccountInput, ContactInput, TouchInput
from leadflow.contacts.models import accounts, contacts, identities, touches
from leadflow.contacts.service import capture_contact
from leadflow.scoring.models import contact_scores, score_history
from leadflow.storage.database import Database


def populate(db: Database, clock: FrozenClock) -> None:
    jane = ContactInput(
        email="Jane@Acme.com",
        phone="+1 415 555 0100",
        external_id="crm-1",
        other_emails=("jane.doe@gmail.com",),
        first_name="Jane",
        title="Head of Growth",
        properties={"plan": "pro", "seats": 12},
        account=AccountInput(industry="Software", employee_count=120, annual_revenue=3.5e6),
    )
    early = clock.now() - timedelta(days=30)
    capture_contact(
        db, clock, jane, touch=TouchInput("paid_ads", occurred_at=early, utm_source="g")
    )
    capture_contact(
        db,
        clock,
        ContactInput(email="jane@acme.com", anonymous_id="v-1"),
        touch=TouchInput("webinar", campaign="q4-launch"),
    )
    capture_contact(db, clock, ContactInput(phone="+44 20 7946 0958", last_name="Only-Phone"))


def export(db: Database, fmt: str = "csv") -> str:
    out = io.StringIO()
    export_contacts(db, out, fmt)  # type: ignore[arg-type]
    return out.getvalue()


def without_bookkeeping(text: str) -> list[dict[str, str]]:
    return [
        {k: v for k, v in row.items() if not k.startswith("leadflow_")}
        for row in csv.DictReader(io.StringIO(text))
    ]


def wipe(db: Database) -> None:
    with db.write() as conn:
        conn.execute(update(contacts).values(first_touch_id=None, last_touch_id=None))
        for table in (score_history, contact_scores, touches, identities, contacts, accounts):
            conn.execute(delete(table))


def test_csv_export_imports_back_to_the_same_contacts(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    populate(db, clock)
    first = export(db)
    path = tmp_path / "export.csv"
    path.write_text(first)
    wipe(db)

    summary = import_contacts(db, clock, path, max_bytes=10**9)

    assert (summary.created, summary.run.rejected) == (2, 0)
    assert without_bookkeeping(export(db)) == without_bookkeeping(first)


def test_csv_export_carries_identities_properties_and_touches(db: Database, clock: FrozenClock):
    populate(db, clock)

    jane = without_bookkeeping(export(db))[0]

    assert (jane["email"], jane["phone"], jane["external_id"], jane["anonymous_id"]) == (
        "jane@acme.com",  # the latest capture's spelling
        "+14155550100",
        "crm-1",
        "v-1",
    )
    assert jane["other_identities"] == "email:jane.doe@gmail.com"
    assert json.loads(jane["properties"]) == {"plan": "pro", "seats": 12}
    assert (jane["first_touch_channel"], jane["first_touch_utm_source"]) == ("paid_ads", "g")
    assert (jane["last_touch_channel"], jane["last_touch_campaign"]) == ("webinar", "q4-launch")
    assert (jane["website"], jane["employees"]) == ("acme.com", "120")


def test_reimporting_an_export_into_its_workspace_adds_nothing(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    populate(db, clock)
    path = tmp_path / "export.csv"
    path.write_text(export(db))
    before = export(db)

    summary = import_contacts(db, clock, path, max_bytes=10**9)

    assert (summary.created, summary.updated) == (0, 2)
    assert without_bookkeeping(export(db)) == without_bookkeeping(before)


def test_jsonl_export_is_one_nested_object_per_active_contact(db: Database, clock: FrozenClock):
    populate(db, clock)
    with db.write() as conn:
        conn.execute(update(contacts).where(contacts.c.id == 2).values(status="merged"))

    records = [json.loads(line) for line in export(db, "jsonl").splitlines()]

    assert [r["id"] for r in records] == [1]
    assert records[0]["account"]["domain"] == "acme.com"
    assert {i["kind"] for i in records[0]["identities"]} == {
        "email",
        "phone",
        "external_id",
        "anonymous_id",
    }
    assert records[0]["first_touch"]["channel"] == "paid_ads"
