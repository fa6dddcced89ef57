from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from leadflow.activity.import_service import import_events
from leadflow.activity.models import activities
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.merge import merge_contacts
from leadflow.contacts.service import capture_contact
from leadflow.errors import InputFileError
from leadflow.privacy.service import erase_contact
from leadflow.storage.database import Database
from tests.files import write_csv, write_jsonl

LIMIT = 10**9


def stored(db: Database) -> list[tuple[int, str, dict[str, object]]]:
    with db.read() as conn:
        rows = conn.execute(
            select(activities.c.contact_id, activities.c.type, activities.c.properties).order_by(
                activities.c.id
            )
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_csv_rows_become_events_and_unknown_people_become_contacts(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    known = capture_contact(db, clock, ContactInput(email="jane@acme.com")).contact_id
    rows = [
        ["page_view", "2024-03-01T10:00:00Z", "jane@acme.com", "web", "/pricing"],
        ["form_submit", "2024-03-01T10:05:00+01:00", "new@person.com", "web", "/demo"],
    ]
    path = write_csv(tmp_path / "ev.csv", ["type", "timestamp", "email", "source", "page"], rows)

    summary = import_events(db, clock, path, max_bytes=LIMIT)

    assert (summary.run.rows, summary.recorded, summary.contacts_created) == (2, 2, 1)
    assert stored(db) == [
        (known, "page_view", {"page": "/pricing"}),
        (known + 1, "form_submit", {"page": "/demo"}),
    ]


def test_reimport_stores_nothing_twice_even_without_times(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    rows = [["call", "", "+14155550100", "12"], ["meeting", "2024-01-01", "+14155550100", ""]]
    path = write_csv(tmp_path / "ev.csv", ["event", "occurred_at", "phone", "minutes"], rows)
    import_events(db, clock, path, max_bytes=LIMIT)
    clock.advance(__import__("datetime").timedelta(hours=1))

    again = import_events(db, clock, path, max_bytes=LIMIT)

    assert (again.recorded, again.duplicates) == (0, 2)
    assert len(stored(db)) == 2


def test_json_lines_keep_typed_properties(db: Database, clock: FrozenClock, tmp_path: Path):
    contact = capture_contact(db, clock, ContactInput(email="jane@acme.com")).contact_id
    path = write_jsonl(
        tmp_path / "ev.jsonl",
        [
            {
                "type": "email_opened",
                "occurred_at": 1704067200,
                "contact_id": contact,
                "properties": {"campaign": "q1"},
                "opens": 3,
            },
        ],
    )

    import_events(db, clock, path, max_bytes=LIMIT)

    assert stored(db) == [(contact, "email_opened", {"campaign": "q1", "opens": 3})]


def test_abort_names_the_row_and_column_and_stores_nothing(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    rows = [["page_view", "a@acme.com"], ["Page View!", "b@acme.com"]]
    path = write_csv(tmp_path / "ev.csv", ["Event Type", "Email"], rows)

    with pytest.raises(InputFileError) as caught:
        import_events(db, clock, path, max_bytes=LIMIT)

    assert (caught.value.row, caught.value.column) == (3, "Event Type")
    assert stored(db) == []


def test_skip_rejects_unknown_contact_ids_and_bad_lines(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    contact = capture_contact(db, clock, ContactInput(email="jane@acme.com")).contact_id
    path = write_jsonl(
        tmp_path / "ev.jsonl",
        [
            {"type": "call", "contact_id": contact, "occurred_at": "2024-01-01T09:00:00Z"},
            {"type": "call", "contact_id": 999, "occurred_at": "2024-01-01T09:00:00Z"},
            "{not json",
        ],
    )

    summary = import_events(db, clock, path, max_bytes=LIMIT, on_error="skip")

    lines = (tmp_path / "ev.rejects.jsonl").read_text().splitlines()
    assert (summary.recorded, summary.run.rejected) == (1, 2)
    assert '"leadflow_error": "column \'contact_id\': no contact with id 999"' in lines[1]
    assert '"leadflow_row": 3' in lines[0]


def test_a_file_without_a_type_column_is_refused(db: Database, clock: FrozenClock, tmp_path: Path):
    path = write_csv(tmp_path / "ev.csv", ["email", "when"], [["a@acme.com", "2024-01-01"]])

    with pytest.raises(InputFileError, match="has no 'type' column"):
        import_events(db, clock, path, max_bytes=LIMIT)


def test_the_format_comes_from_the_extension_or_is_asked_for(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    path = tmp_path / "events.txt"
    path.write_text('{"type": "call", "email": "a@acme.com"}\n')

    with pytest.raises(InputFileError, match="give --format"):
        import_events(db, clock, path, max_bytes=LIMIT)
    assert import_events(db, clock, path, fmt="jsonl", max_bytes=LIMIT).recorded == 1


def test_rows_naming_an_erased_contact_are_rejected_and_its_email_makes_a_new_contact(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    kept = capture_contact(db, clock, ContactInput(email="jane@acme.com")).contact_id
    gone = capture_contact(db, clock, ContactInput(email="joe@acme.com")).contact_id
    merged = capture_contact(db, clock, ContactInput(email="jo@home.example")).contact_id
    merge_contacts(db, clock, gone, merged, merged_by="sam")
    erase_contact(db, clock, gone, requested_by="cli:sam")
    path = write_jsonl(
        tmp_path / "ev.jsonl",
        [
            {"type": "call", "contact_id": kept},
            {"type": "call", "contact_id": gone},
            {"type": "call", "contact_id": merged},
            {"type": "call", "email": "joe@acme.com"},
        ],
    )

    summary = import_events(db, clock, path, max_bytes=LIMIT, on_error="skip")

    lines = (tmp_path / "ev.rejects.jsonl").read_text().splitlines()
    assert (summary.recorded, summary.run.rejected, summary.contacts_created) == (2, 2, 1)
    for line, contact_id in zip(lines, (gone, merged), strict=True):
        assert f"contact {contact_id} was erased and takes no new data" in line
    assert [contact_id for contact_id, _, _ in stored(db)] == [kept, merged + 1]
