"""Loading the demo into a workspace: counts agree, identities resolve, truth is written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadflow.activity.models import activities
from leadflow.contacts.models import contacts, identities, touches
from leadflow.contacts.queries import get_contact
from leadflow.demo.engine import DemoData, generate
from leadflow.demo.service import TRUTH_COLUMNS, load_demo
from leadflow.storage.database import Database
from leadflow.workspace import Workspace
from tests.conftest import START

SIZE = 150


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate(end=START, contacts=SIZE, days=14, seed=5)


def _count(db: Database, table: object, *where: object) -> int:
    with db.read() as conn:
        query = select(func.count()).select_from(table).where(*where)  # type: ignore[arg-type]
        return int(conn.execute(query).scalar_one())


def _truth_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "truth.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_load_gives_one_contact_per_record(workspace: Workspace, data: DemoData):
    summary = load_demo(workspace.db, data, folder=workspace.root / "demo")

    assert summary.contacts == SIZE
    assert _count(workspace.db, contacts) == SIZE
    assert summary.touches == len(data.captures) == _count(workspace.db, touches)
    assert summary.events == len(data.events) == _count(workspace.db, activities)
    assert sum(summary.contacts_by_channel.values()) == SIZE
    assert sum(summary.events_by_type.values()) == len(data.events)
    assert summary.converted == sum(t.converted for t in data.truth)


def test_load_creates_one_account_per_work_domain(workspace: Workspace, data: DemoData):
    summary = load_demo(workspace.db, data, folder=workspace.root / "demo")

    domains = {c.contact.account.domain for c in data.captures if c.contact.account}
    assert summary.accounts == len(domains)


def test_a_retyped_address_lands_on_the_same_contact(workspace: Workspace, data: DemoData):
    load_demo(workspace.db, data, folder=workspace.root / "demo")
    emails = [c.contact.email or "" for c in data.captures]
    retyped = next(e for e in emails if e != e.lower() and e.lower() in emails)

    contact = get_contact(workspace.db, retyped)

    assert contact["id"] == get_contact(workspace.db, retyped.lower())["id"]
    assert len(contact["touches"]) == 2


def test_anonymous_visits_are_stitched_to_the_contact(workspace: Workspace, data: DemoData):
    load_demo(workspace.db, data, folder=workspace.root / "demo")
    browsed = {e.anonymous_id for e in data.events if e.anonymous_id}
    capture = next(c.contact for c in data.captures if c.contact.anonymous_id in browsed)

    contact = get_contact(workspace.db, capture.email or "")

    kinds = {i["kind"] for i in contact["identities"]}
    assert {"email", "anonymous_id"} <= kinds
    with workspace.db.read() as conn:
        first_event = conn.execute(
            select(func.min(activities.c.occurred_at)).where(
                activities.c.contact_id == contact["id"]
            )
        ).scalar_one()
        first_touch = conn.execute(
            select(func.min(touches.c.occurred_at)).where(touches.c.contact_id == contact["id"])
        ).scalar_one()
    assert first_event < first_touch


def test_no_identity_is_left_on_a_contact_of_its_own(workspace: Workspace, data: DemoData):
    load_demo(workspace.db, data, folder=workspace.root / "demo")

    with workspace.db.read() as conn:
        without_touch = conn.execute(
            select(func.count()).select_from(contacts).where(contacts.c.first_touch_id.is_(None))
        ).scalar_one()
        owners = conn.execute(select(func.count(func.distinct(identities.c.contact_id)))).scalar()
    assert without_touch == 0
    assert owners == SIZE


def test_loading_again_adds_nothing(workspace: Workspace, data: DemoData):
    folder = workspace.root / "demo"
    first = load_demo(workspace.db, data, folder=folder)
    again = load_demo(workspace.db, data, folder=folder)

    assert (again.contacts, again.touches, again.events) == (
        first.contacts,
        first.touches,
        first.events,
    )


def test_truth_file_names_every_contact(workspace: Workspace, data: DemoData):
    folder = workspace.root / "demo"
    load_demo(workspace.db, data, folder=folder)

    rows = _truth_rows(folder)

    assert tuple(rows[0]) == TRUTH_COLUMNS
    assert len({r["contact_id"] for r in rows}) == SIZE
    assert sum(r["converted"] == "1" for r in rows) == sum(t.converted for t in data.truth)
    with workspace.db.read() as conn:
        stored = dict(conn.execute(select(contacts.c.id, contacts.c.email)).all())
    for row in rows:
        assert stored[int(row["contact_id"])].lower() == row["email"].lower()
        assert 0 <= float(row["fit"]) <= 1
        assert 0 <= float(row["intent"]) <= 1


def test_truth_points_near_duplicates_at_their_original(workspace: Workspace, data: DemoData):
    folder = workspace.root / "demo"
    load_demo(workspace.db, data, folder=folder)
    rows = _truth_rows(folder)
    ids = {r["contact_id"] for r in rows}

    twins = [r for r in rows if r["duplicate_of"]]

    assert len(twins) == round(SIZE * 0.02)
    for twin in twins:
        assert twin["duplicate_of"] in ids
        assert twin["duplicate_of"] != twin["contact_id"]
        original = get_contact(workspace.db, int(twin["duplicate_of"]))
        copy = get_contact(workspace.db, int(twin["contact_id"]))
        assert (copy["first_name"], copy["last_name"]) == (
            original["first_name"],
            original["last_name"],
        )


def test_progress_is_reported_per_batch(workspace: Workspace, data: DemoData):
    seen: list[tuple[int, int]] = []

    load_demo(
        workspace.db,
        data,
        folder=workspace.root / "demo",
        progress=lambda done, total: seen.append((done, total)),
    )

    assert seen
    assert [done for done, _ in seen] == list(range(1, len(seen) + 1))
    assert {total for _, total in seen} == {len(seen)}
