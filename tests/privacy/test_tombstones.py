"""An erased person's tombstone takes no new data: writes that name it by id are refused
(:class:`ContactErased`, nothing written), naming the person by email again makes a new
contact, and no periodic rule or job moves the tombstone."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

import leadflow.activity.service as activity_service
import leadflow.privacy.service as privacy_service
from leadflow.activity.inputs import EventInput
from leadflow.activity.models import activities
from leadflow.activity.service import record_events
from leadflow.channels import MemoryChannel
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.merge import merge_contacts
from leadflow.contacts.service import capture_contact
from leadflow.errors import ContactErased
from leadflow.lifecycle.deals import lose_deal, open_deal, win_deal
from leadflow.lifecycle.models import deals
from leadflow.lifecycle.service import load_lifecycle, move_contact, qualify, stage_of
from leadflow.privacy.service import erase_contact, export_contact
from leadflow.routing.service import load_routing
from leadflow.routing.sla import check_sla
from leadflow.storage.database import Database
from leadflow.tracking.engine import identify_token
from leadflow.tracking.service import identify
from leadflow.workspace import Workspace
from tests.conftest import SERVER_URL
from tests.privacy.conftest import EMAIL, Person, dump
from tests.routing.files import ROUTING


@pytest.fixture
def erased(db: Database, clock: FrozenClock, person: Person) -> Person:
    erase_contact(db, clock, person.id, requested_by="cli:sam")
    clock.advance(timedelta(minutes=5))
    return person


def test_an_event_naming_an_erased_contact_by_id_is_refused_and_stores_nothing(
    db: Database, clock: FrozenClock, erased: Person
):
    before = dump(db)

    for named in (erased.id, erased.merged_id):  # a contact merged into the person too
        with pytest.raises(ContactErased) as refused:
            record_events(db, clock, [EventInput(type="page_view", contact_id=named)])

        assert (refused.value.code, refused.value.contact_id) == ("contact_erased", named)
        assert (refused.value.index, refused.value.field) == (None, None)
        assert str(refused.value).startswith(f"contact {named} was erased")
    assert dump(db) == before


@pytest.mark.skipif(SERVER_URL is None, reason="PostgreSQL's concurrent writers")
def test_an_event_read_before_an_erasure_committed_is_refused_once_it_has(
    db: Database, clock: FrozenClock, person: Person, monkeypatch: pytest.MonkeyPatch
):
    """The event's first read of its contact sees no erasure (not committed yet); it then
    waits for the contact's row, which the erasure holds, and is refused once it commits."""
    erasing, at_lock = threading.Event(), threading.Event()
    real_lock = activity_service.lock_for_scoring

    def lock(conn: Any, contact_ids: Any) -> None:
        at_lock.set()
        real_lock(conn, contact_ids)

    def held(conn: Any, ids: list[int], now: Any) -> int:  # the erasure's last step
        erasing.set()
        assert at_lock.wait(10)
        time.sleep(0.3)  # the event is now waiting for the erased rows
        return 0

    monkeypatch.setattr(activity_service, "lock_for_scoring", lock)
    monkeypatch.setattr(
        privacy_service, "ERASE_STEPS", (*privacy_service.ERASE_STEPS, ("held", held))
    )
    # Another process's database handle: one handle serialises its own writes.
    other = Database(db.engine.url.render_as_string(hide_password=False))
    eraser = threading.Thread(
        target=erase_contact, args=(other, clock, person.id), kwargs={"requested_by": "dpo"}
    )
    eraser.start()
    try:
        assert erasing.wait(10)
        with pytest.raises(ContactErased) as refused:
            record_events(
                db,
                clock,
                [EventInput(type="page_view", contact_id=person.id, idempotency_key="late")],
            )
    finally:
        eraser.join(10)
        other.dispose()
    assert refused.value.contact_id == person.id
    with db.read() as conn:
        late = conn.execute(
            select(activities.c.id).where(activities.c.idempotency_key == "late")
        ).all()
    assert late == []


def test_a_batch_naming_an_erased_contact_is_refused_whole_naming_the_event(
    db: Database, clock: FrozenClock, erased: Person
):
    before = dump(db)
    batch = [
        EventInput(type="page_view", contact_id=erased.bystander_id),
        EventInput(type="page_view", email="someone.new@example.org"),
        EventInput(type="email_opened", contact_id=erased.id),
        EventInput(type="email_opened", contact_id=erased.merged_id),
    ]

    with pytest.raises(ContactErased) as refused:
        record_events(db, clock, batch)

    assert (refused.value.index, refused.value.contact_id) == (2, erased.id)
    assert refused.value.field == "events[2].contact_id"
    assert str(refused.value).startswith(f"events[2]: contact {erased.id} was erased")
    assert dump(db) == before  # nor the bystander's event, nor the new contact


def test_an_event_naming_the_person_by_email_again_makes_a_new_contact(
    db: Database, clock: FrozenClock, erased: Person
):
    result = record_events(db, clock, [EventInput(type="page_view", email=EMAIL)])

    assert (result.recorded, result.contacts_created) == (1, 1)
    fresh = export_contact(db, EMAIL)
    assert fresh["contact"]["id"] not in (erased.id, erased.merged_id)
    assert [a["type"] for a in fresh["activities"]] == ["page_view"]
    assert export_contact(db, erased.id)["contact"]["email"] is None


def _writes(db: Database, clock: FrozenClock, person: Person, deal_id: int) -> dict[str, Any]:
    """Every write that names a contact (or its deal) by id, as the library offers it."""
    return {
        "stage move": lambda: move_contact(db, clock, person.id, "customer", by="sam", reason="x"),
        "qualification": lambda: qualify(db, clock, person.id, {"need": "low"}, by="sam"),
        "new deal": lambda: open_deal(db, clock, person.merged_id, by="sam"),
        "deal won": lambda: win_deal(db, clock, deal_id, reason="signed", by="sam"),
        "deal lost": lambda: lose_deal(db, clock, deal_id, reason="gone", by="sam"),
        "merge into it": lambda: merge_contacts(
            db, clock, person.id, person.bystander_id, merged_by="sam"
        ),
        "merge it away": lambda: merge_contacts(
            db, clock, person.bystander_id, person.id, merged_by="sam"
        ),
    }


def test_every_write_naming_an_erased_contact_is_refused(
    db: Database, clock: FrozenClock, erased: Person
):
    with db.read() as conn:
        deal_id = conn.execute(select(deals.c.id).where(deals.c.contact_id == erased.id)).scalar()
    assert deal_id is not None
    before = dump(db)

    refused = {}
    for name, write in _writes(db, clock, erased, deal_id).items():
        with pytest.raises(ContactErased) as error:
            write()
        refused[name] = error.value.contact_id

    assert refused == dict.fromkeys(refused, erased.id)
    assert dump(db) == before


def test_an_identified_email_click_for_an_erased_contact_is_refused(
    workspace: Workspace, db: Database, clock: FrozenClock, erased: Person
):
    secret = workspace.settings.secret_key
    before = dump(db)

    with pytest.raises(ContactErased):
        identify(
            db,
            clock,
            secret=secret,
            token=identify_token(secret, erased.id, now=clock.now()),
            visitor="visitor-1",
        )

    assert dump(db) == before


def _in_mql(db: Database, clock: FrozenClock, email: str) -> int:
    contact_id = capture_contact(db, clock, ContactInput(email=email)).contact_id
    move_contact(db, clock, contact_id, "mql", by="sam", reason="webinar")
    return contact_id


def test_time_based_rules_do_not_move_an_erased_tombstone(db: Database, clock: FrozenClock):
    # cooled_off (the default lifecycle): back to lead below 40 points, after 14 days in mql.
    live = _in_mql(db, clock, "live@example.org")
    gone = _in_mql(db, clock, "gone@example.org")
    erase_contact(db, clock, gone, requested_by="cli:sam")
    history = export_contact(db, gone)["stage_transitions"]
    clock.advance(timedelta(days=15))

    check_sla(db, clock, MemoryChannel())

    assert stage_of(db, live)[1] == "lead"
    assert stage_of(db, gone)[1] == "mql"
    assert export_contact(db, gone)["stage_transitions"] == history


def test_rules_run_over_everyone_skip_an_erased_tombstone(
    workspace: Workspace, db: Database, clock: FrozenClock
):
    gone = _in_mql(db, clock, "gone@example.org")
    erase_contact(db, clock, gone, requested_by="cli:sam")
    text = (workspace.root / "lifecycle.yaml").read_text().replace("min_stay: 14d", "min_stay: 1d")
    clock.advance(timedelta(days=2))

    _, moved = load_lifecycle(db, clock, text)

    assert (moved, stage_of(db, gone)[1]) == (0, "mql")


def _prospect(db: Database, clock: FrozenClock, email: str) -> int:
    contact_id = capture_contact(db, clock, ContactInput(email=email)).contact_id
    for stage in ("lead", "mql", "sql", "prospect"):
        move_contact(db, clock, contact_id, stage, by="sam", reason="test")
    return contact_id


def test_the_sla_job_neither_recycles_nor_routes_an_erased_tombstone(
    db: Database, clock: FrozenClock
):
    untouched = _prospect(db, clock, "ann@acme.example")
    unowned = _prospect(db, clock, "bob@beta.example")  # before routing: nobody owns it
    load_routing(db, clock, ROUTING)
    owned = _prospect(db, clock, "cy@gamma.example")
    for gone in (unowned, owned):
        erase_contact(db, clock, gone, requested_by="cli:sam")
    before = {gone: export_contact(db, gone) for gone in (unowned, owned)}
    clock.advance(timedelta(days=15))

    report = check_sla(db, clock, MemoryChannel())

    assert report.recycled == [untouched]
    assert unowned not in report.routed
    for gone, held in before.items():
        after = export_contact(db, gone)
        assert stage_of(db, gone)[1] == "prospect"
        for section in ("contact", "stage_transitions", "tasks"):
            assert after[section] == held[section], section
        # (a notice already pending is still delivered: it goes to the salesperson)
        assert [n["id"] for n in after["notices"]] == [n["id"] for n in held["notices"]]
