"""Export holds everything about a person; erasure leaves no trace of them and keeps the
anonymous aggregates; both cover contacts merged into the person."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import ForeignKey, func, select

from leadflow.activity.models import activities
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.models import contacts, touches
from leadflow.contacts.queries import get_contact
from leadflow.contacts.service import capture_contact
from leadflow.errors import NotFound, ValidationError
from leadflow.lifecycle.models import deals
from leadflow.lifecycle.service import stage_counts
from leadflow.privacy import service
from leadflow.privacy.models import erasures
from leadflow.privacy.service import CONTACT_REFERENCES, erase_contact, export_contact
from leadflow.scoring.models import contact_scores, score_history
from leadflow.storage.database import Database
from leadflow.storage.schema import all_tables
from leadflow.workspace import Workspace
from tests.conftest import SERVER_URL
from tests.privacy.conftest import EMAIL, OTHER_EMAIL, PHONE, TRACES, Person, dump, traces_in


def _references_to_contacts() -> set[tuple[str, str]]:
    """Every column that refers to contacts.id, by foreign key or by its name."""
    found = set()
    for table in all_tables().sorted_tables:
        for column in table.columns:
            keys: set[ForeignKey] = column.foreign_keys
            if any(fk.column.table.name == "contacts" for fk in keys) or column.name.endswith(
                "contact_id"
            ):
                found.add((table.name, column.name))
    return found


def test_every_reference_to_contacts_is_exported_and_erased(db: Database, person: Person):
    exported = export_contact(db, person.id)

    assert _references_to_contacts() - set(CONTACT_REFERENCES) == set()
    sections = {section for section, _ in CONTACT_REFERENCES.values()}
    assert sections - set(exported) == set()
    steps = {kind for kind, _ in service.ERASE_STEPS}
    assert set(service.JSON_REFERENCES) - set(exported) - steps == set()
    kept = {t for (t, _), (_, what) in CONTACT_REFERENCES.items() if what.startswith("kept")}
    assert {t for t, _ in CONTACT_REFERENCES} - steps - kept == set()


def test_export_holds_every_record_of_the_person_and_of_contacts_merged_into_it(
    db: Database, person: Person
):
    exported = export_contact(db, EMAIL)

    assert exported["contact"]["id"] == person.id
    assert exported["contact"]["last_name"] == "Quixote"
    assert exported["account"]["domain"] == "lamancha.example"
    assert [c["id"] for c in exported["merged_contacts"]] == [person.merged_id]
    assert {(i["kind"], i["value"]) for i in exported["identities"]} == {
        ("email", EMAIL),
        ("email", OTHER_EMAIL),
        ("phone", PHONE),
        ("phone", "+14155550177"),
        ("external_id", "crm-zq-7"),
        ("anonymous_id", "visitor-zq"),
    }
    assert [t["channel"] for t in exported["touches"]] == ["paid_ads", "web_form"]
    assert Counter(a["type"] for a in exported["activities"]) == {
        "page_view": 1,
        "email_replied": 1,
        "demo_requested": 1,
    }
    assert [s["contact_id"] for s in exported["contact_scores"]] == [person.id]
    assert exported["score_history"] != []
    assert [t["to_stage"] for t in exported["stage_transitions"]][-1] == "opportunity"
    assert {q["criterion"]: q["value"] for q in exported["qualifications"]} == {
        "need": "high",
        "timing": "now",
    }
    assert [(d["amount"], d["status"]) for d in exported["deals"]] == [("12000.50", "open")]
    assert [t["title"] for t in exported["tasks"]] == ["Call Zebulon back", "First touch"]
    assert [n["data"]["body"] for n in exported["notices"]] == ["Zebulon Quixote from La Mancha"]
    assert [e["topic"] for e in exported["webhook_events"]] == [
        "contact.created",
        "stage.changed",
        "deal.won",
    ]
    assert [m["merged_id"] for m in exported["merges"]] == [person.merged_id]
    assert exported["erasures"] == []
    assert json.loads(json.dumps(exported)) == exported


def test_export_of_a_merged_contact_is_the_export_of_its_survivor(db: Database, person: Person):
    assert export_contact(db, person.merged_id) == export_contact(db, person.id)


def test_export_names_nothing_of_another_person(db: Database, person: Person):
    exported = json.dumps(export_contact(db, person.bystander_id)).lower()

    assert "quixote" not in exported
    assert "ann.lee@acme.example" in exported


def test_erasure_leaves_no_trace_of_the_person_anywhere_in_the_database(
    db: Database, clock: FrozenClock, person: Person
):
    assert {t for _, t in traces_in(db)} == set(TRACES)

    erasure = erase_contact(db, clock, EMAIL, requested_by="cli:sam")

    assert traces_in(db) == []
    assert get_contact(db, person.bystander_id)["email"] == "ann.lee@acme.example"
    assert erasure.contact_id == person.id
    assert erasure.merged_ids == (person.merged_id,)
    assert erasure.previously_erased_at is None
    assert erasure.removed == {
        "contacts": 2,
        "identities": 6,
        "touches": 2,
        "activities": 3,
        "stage_transitions": 5,
        "qualifications": 2,
        "deals": 1,
        "tasks": 2,
        "tasks_cancelled": 1,
        "notices": 1,
        "merges": 1,
        "webhook_events": 2,
    }


def _aggregates(db: Database) -> dict[str, Any]:
    """What reports count: contacts by stage and status, touches by channel and campaign,
    activities by type and time, scores, deals by stage, status and amount."""
    with db.read() as conn:

        def rows(*columns: Any) -> list[tuple[Any, ...]]:
            return sorted(tuple(r) for r in conn.execute(select(*columns)).all())

        return {
            "contacts": rows(
                contacts.c.id,
                contacts.c.status,
                contacts.c.stage,
                contacts.c.account_id,
                contacts.c.created_at,
                contacts.c.stage_entered_at,
                contacts.c.first_touch_id,
                contacts.c.last_touch_id,
                contacts.c.owner_id,
            ),
            "touches": rows(
                touches.c.contact_id,
                touches.c.channel,
                touches.c.campaign,
                touches.c.utm_source,
                touches.c.utm_medium,
                touches.c.utm_campaign,
                touches.c.occurred_at,
            ),
            "activities": rows(
                activities.c.contact_id,
                activities.c.type,
                activities.c.occurred_at,
                activities.c.source,
            ),
            "scores": rows(
                contact_scores.c.contact_id, contact_scores.c.total, contact_scores.c.grade
            ),
            "score_history": rows(
                score_history.c.contact_id, score_history.c.kind, score_history.c.after
            ),
            "deals": rows(
                deals.c.contact_id, deals.c.stage, deals.c.status, deals.c.amount, deals.c.currency
            ),
        }


def test_erasure_keeps_stage_counts_and_funnel_aggregates(
    db: Database, clock: FrozenClock, person: Person
):
    counts, aggregates = stage_counts(db), _aggregates(db)

    erase_contact(db, clock, person.id, requested_by="cli:sam")

    assert stage_counts(db) == counts
    assert _aggregates(db) == aggregates
    assert counts["opportunity"] == 1


def test_after_erasure_nobody_finds_the_person_and_a_capture_makes_a_new_contact(
    db: Database, clock: FrozenClock, person: Person
):
    erase_contact(db, clock, person.id, requested_by="cli:sam")

    for ref in (EMAIL, OTHER_EMAIL, PHONE, "external_id:crm-zq-7", "anonymous_id:visitor-zq"):
        with pytest.raises(NotFound):
            export_contact(db, ref)
    again = capture_contact(db, clock, ContactInput(email=EMAIL, first_name="Zebulon"))
    assert again.created
    assert again.contact_id not in (person.id, person.merged_id)


def test_export_after_erasure_shows_only_the_anonymous_tombstone(
    db: Database, clock: FrozenClock, person: Person
):
    before = export_contact(db, person.id)
    erasure = erase_contact(db, clock, person.id, requested_by="api:lf_1234")

    exported = export_contact(db, person.id)

    assert "quixote" not in json.dumps(exported).lower()
    contact = exported["contact"]
    assert {f: contact[f] for f in service.PERSONAL_FIELDS} == dict.fromkeys(
        service.PERSONAL_FIELDS
    )
    assert (contact["properties"], contact["stage"], contact["status"]) == (
        {},
        "opportunity",
        "active",
    )
    assert exported["identities"] == []
    assert exported["qualifications"] == []
    assert [t["channel"] for t in exported["touches"]] == ["paid_ads", "web_form"]
    assert {t["referrer"] for t in exported["touches"]} == {None}
    assert {json.dumps(a["properties"]) for a in exported["activities"]} == {"{}"}
    assert [d["name"] for d in exported["deals"]] == [f"deal {exported['deals'][0]['id']}"]
    assert [(t["title"], t["status"]) for t in exported["tasks"]] == [
        ("follow_up", "done"),
        ("first_touch", "cancelled"),
    ]
    assert [n["data"] for n in exported["notices"]] == [
        {"contact_id": person.id, "rule": "spain", "email": "olga@seller.example"}
    ]
    # leadflow's own payloads hold only ids, codes, numbers and times: they stay whole.
    assert [e["payload"] for e in exported["webhook_events"]] == [
        {"contact": {"id": person.id}},
        {"contact_id": person.id, "to_stage": "sql"},
        before["webhook_events"][2]["payload"],
    ]
    assert [m["snapshot"] for m in exported["merges"]] == [
        {
            "moved": {
                "identities": 3,
                "touches": 1,
                "activities": 1,
                "deals": 0,
                "tasks": 0,
                "qualifications": 0,
            }
        }
    ]
    assert [(e["id"], e["requested_by"]) for e in exported["erasures"]] == [
        (erasure.id, "api:lf_1234")
    ]


def test_erasing_twice_clears_nothing_more_and_records_the_request_again(
    db: Database, clock: FrozenClock, person: Person
):
    first = erase_contact(db, clock, person.id, requested_by="cli:sam")
    after_first = dump(db)
    clock.advance(timedelta(days=1))

    second = erase_contact(db, clock, person.merged_id, requested_by="cli:ann")

    assert second.previously_erased_at == first.erased_at
    assert set(second.removed.values()) == {0}
    assert second.id != first.id
    after_second = dump(db)
    assert {n: r for n, r in after_second.items() if n != "erasures"} == {
        n: r for n, r in after_first.items() if n != "erasures"
    }
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(erasures)).scalar_one() == 2


def test_erasure_is_all_or_nothing(
    db: Database, clock: FrozenClock, person: Person, monkeypatch: pytest.MonkeyPatch
):
    before = dump(db)

    def fail(*_: Any) -> int:
        raise RuntimeError("disk on fire")

    steps = list(service.ERASE_STEPS)
    steps.insert(len(steps) - 2, ("boom", fail))
    monkeypatch.setattr(service, "ERASE_STEPS", tuple(steps))

    with pytest.raises(RuntimeError, match="disk on fire"):
        erase_contact(db, clock, person.id, requested_by="cli:sam")

    assert dump(db) == before


def test_unknown_contacts_and_anonymous_requests_are_refused(
    db: Database, clock: FrozenClock, person: Person
):
    with pytest.raises(NotFound):
        export_contact(db, 999)
    with pytest.raises(NotFound):
        erase_contact(db, clock, "nobody@nowhere.example", requested_by="cli:sam")
    with pytest.raises(ValidationError, match="requested_by"):
        erase_contact(db, clock, person.id, requested_by="  ")
    assert traces_in(db) != []


@pytest.mark.skipif(SERVER_URL is not None, reason="the files of an SQLite database")
def test_on_sqlite_the_database_files_keep_no_trace_after_erasure(
    workspace: Workspace, clock: FrozenClock, person: Person
):
    path = Path(str(workspace.db.url.database))

    def raw_traces() -> set[str]:
        files = [p.read_bytes().lower() for p in path.parent.glob(f"{path.name}*")]
        return {t for t in TRACES if any(t.encode() in data for data in files)}

    assert raw_traces() == set(TRACES)

    erase_contact(workspace.db, clock, person.id, requested_by="cli:sam")

    assert raw_traces() == set()
