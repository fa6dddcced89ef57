"""Form capture on a real database: contact, touch, answers, consent, stitching."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from leadflow.activity.models import activities
from leadflow.capture.config import Form
from leadflow.capture.service import CaptureOutcome, submit_form
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.models import contacts, identities, merges, touches
from leadflow.contacts.service import capture_contact
from leadflow.errors import ValidationError
from leadflow.lifecycle.service import qualification_of
from leadflow.privacy.service import erase_contact, export_contact
from leadflow.storage.database import Database
from leadflow.tracking.engine import read_page_view
from leadflow.tracking.service import record_page_view
from leadflow.workspace import Workspace
from tests.capture.files import CONSENT_TEXT, ORIGIN, forms_config

VISITOR = "visitor-0123456789"


@pytest.fixture
def form(workspace: Workspace) -> Form:
    found = forms_config(workspace.root).form("form_contact_us_1")
    assert found is not None
    return found


def answers(**overrides: Any) -> dict[str, Any]:
    values = {
        "email": "Ada@Example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical Engines",
        "employees": "120",
        "budget": "10k_50k",
        "when": "next_quarter",
        "colour": "green",
        "newsletter": "on",
        "lf_anonymous_id": VISITOR,
        "lf_utm_source": "newsletter",
        "lf_utm_medium": "email",
        "lf_utm_campaign": "spring",
        "lf_landing_page": f"{ORIGIN}/pricing?utm_source=newsletter",
        "lf_referrer": "https://news.example.org/",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def activity_rows(db: Database, contact_id: int, type_: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(
            select(activities)
            .where(activities.c.contact_id == contact_id, activities.c.type == type_)
            .order_by(activities.c.id)
        ).mappings()
        return [dict(r) for r in rows]


def visit(workspace: Workspace, path: str, visitor: str = VISITOR, n: int = 1) -> None:
    site = forms_config(workspace.root).site("site_www_0001")
    assert site is not None
    view = read_page_view(
        {"anonymous_id": visitor, "view_id": f"pageview-{n:04d}-{len(path)}", "url": ORIGIN + path}
    )
    record_page_view(workspace.db, workspace.clock, site, view)


def test_a_submission_captures_contact_touch_answers_and_consent(workspace, form, db):
    outcome = submit_form(db, workspace.clock, form, answers())

    assert outcome.stored
    assert outcome.created
    with db.read() as conn:
        contact = conn.execute(select(contacts).where(contacts.c.id == outcome.contact_id)).one()
        touch = conn.execute(select(touches).where(touches.c.contact_id == contact.id)).one()
    assert (contact.email, contact.first_name, contact.company_name) == (
        "Ada@example.com",
        "Ada",
        "Analytical Engines",
    )
    assert contact.properties == {"favourite_colour": "green"}
    assert (touch.channel, touch.campaign) == ("web_form", "spring-launch")
    assert (touch.utm_source, touch.utm_medium, touch.utm_campaign) == (
        "newsletter",
        "email",
        "spring",
    )
    assert touch.landing_page == f"{ORIGIN}/pricing?utm_source=newsletter"
    assert touch.referrer == "https://news.example.org/"
    [submitted] = activity_rows(db, contact.id, "form_submit")
    assert submitted["properties"]["form"] == "contact-us"
    assert submitted["properties"]["fields"]["timeline"] == "next_quarter"
    [consent] = activity_rows(db, contact.id, "consent_given")
    assert consent["properties"]["text"] == CONSENT_TEXT
    assert consent["properties"]["purpose"] == "newsletter"


def test_qualification_answers_go_through_the_lifecycle_capture_map(workspace, form, db):
    outcome = submit_form(db, workspace.clock, form, answers())

    criteria = {c.criterion: (c.value, c.source) for c in qualification_of(db, outcome.contact_id)}
    assert criteria["budget"] == ("10k_50k", "form")
    assert criteria["timing"] == ("this_year", "form")  # next_quarter, mapped


def test_a_second_submission_updates_the_same_contact(workspace, form, db, clock: FrozenClock):
    first = submit_form(db, clock, form, answers())
    clock.advance(timedelta(days=2))
    second = submit_form(db, clock, form, answers(email="ada@example.com", first_name="Augusta"))

    assert second.contact_id == first.contact_id
    assert not second.created
    with db.read() as conn:
        name = conn.execute(
            select(contacts.c.first_name).where(contacts.c.id == first.contact_id)
        ).scalar_one()
        count = conn.execute(select(func.count()).select_from(contacts)).scalar_one()
    assert name == "Augusta"
    assert count == 1
    assert len(activity_rows(db, first.contact_id, "form_submit")) == 2


def test_after_erasure_the_same_person_submitting_again_is_a_new_contact(
    workspace, form, db, clock: FrozenClock
):
    first = submit_form(db, clock, form, answers())
    assert first.contact_id is not None
    erase_contact(db, clock, first.contact_id, requested_by="cli:sam")
    tombstone = export_contact(db, first.contact_id)
    del tombstone["account"]  # the company is kept, and the new contact's capture updates it
    clock.advance(timedelta(days=2))

    again = submit_form(db, clock, form, answers())  # same email, same visitor id

    assert again.created
    assert again.contact_id != first.contact_id
    assert again.stitched == ()
    assert export_contact(db, "Ada@Example.com")["contact"]["id"] == again.contact_id
    assert len(activity_rows(db, again.contact_id, "form_submit")) == 1
    assert {k: v for k, v in export_contact(db, first.contact_id).items() if k != "account"} == (
        tombstone
    )


def test_a_filled_honeypot_is_answered_but_stores_nothing(workspace, form, db):
    outcome = submit_form(db, workspace.clock, form, answers(website="http://spam.example"))

    assert outcome == CaptureOutcome(stored=False)
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(contacts)).scalar_one() == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": None}, "email"),
        ({"newsletter": None}, "newsletter"),
        ({"email": "not-an-address"}, "email"),
        ({"employees": "lots"}, "employees"),
        ({"first_name": "x" * 101}, "first_name"),
    ],
)
def test_bad_submissions_name_the_form_field_and_store_nothing(
    workspace, form, db, overrides, field
):
    with pytest.raises(ValidationError) as caught:
        submit_form(db, workspace.clock, form, answers(**overrides))

    assert caught.value.field == field
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(contacts)).scalar_one() == 0


def test_anonymous_page_views_are_stitched_into_a_new_contact(workspace, form, db, clock):
    visit(workspace, "/")
    clock.advance(timedelta(minutes=1))
    visit(workspace, "/pricing", n=2)
    outcome = submit_form(db, clock, form, answers())

    views = activity_rows(db, outcome.contact_id, "page_view")
    assert [v["properties"]["path"] for v in views] == ["/", "/pricing"]
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(contacts)).scalar_one() == 1


def test_anonymous_history_joins_a_contact_the_email_already_belonged_to(
    workspace, form, db, clock
):
    known = capture_contact(db, clock, ContactInput(email="ada@example.com"))
    clock.advance(timedelta(hours=1))
    visit(workspace, "/")
    visit(workspace, "/blog", n=2)
    outcome = submit_form(db, clock, form, answers())

    assert outcome.contact_id == known.contact_id
    assert len(outcome.stitched) == 1
    views = activity_rows(db, known.contact_id, "page_view")
    assert len(views) == 2
    with db.read() as conn:
        visitor = conn.execute(
            select(contacts.c.status, contacts.c.merged_into_id).where(
                contacts.c.id == outcome.stitched[0]
            )
        ).one()
        owner = conn.execute(
            select(identities.c.contact_id).where(identities.c.value == VISITOR)
        ).scalar_one()
        merge = conn.execute(select(merges.c.merged_by, merges.c.reason)).one()
    assert tuple(visitor) == ("merged", known.contact_id)
    assert owner == known.contact_id
    assert merge.merged_by == "capture"
    # Later page views of the same browser land on the identified contact.
    visit(workspace, "/docs", n=3)
    assert len(activity_rows(db, known.contact_id, "page_view")) == 3


def test_a_visitor_id_held_by_another_identified_person_stays_theirs(workspace, form, db):
    other = capture_contact(
        db, workspace.clock, ContactInput(email="grace@example.com", anonymous_id=VISITOR)
    )
    outcome = submit_form(db, workspace.clock, form, answers())

    assert outcome.contact_id != other.contact_id
    assert outcome.stitched == ()
    with db.read() as conn:
        owner = conn.execute(
            select(identities.c.contact_id).where(identities.c.value == VISITOR)
        ).scalar_one()
    assert owner == other.contact_id


def test_consent_text_is_in_the_persons_privacy_export(workspace, form, db):
    outcome = submit_form(db, workspace.clock, form, answers())

    exported = export_contact(db, outcome.contact_id)

    consents = [a for a in exported["activities"] if a["type"] == "consent_given"]
    assert [c["properties"]["text"] for c in consents] == [CONSENT_TEXT]


def test_an_unticked_optional_consent_records_none(workspace, form, db):
    optional = replace(form, consent=replace(form.consent, required=False))
    outcome = submit_form(db, workspace.clock, optional, answers(newsletter=None))

    assert outcome.stored
    assert activity_rows(db, outcome.contact_id, "consent_given") == []


def test_malformed_tracking_fields_are_cut_or_dropped_not_refused(workspace, form, db):
    landing = f"{ORIGIN}/?utm_source=" + "x" * 3000
    outcome = submit_form(
        db,
        workspace.clock,
        form,
        answers(
            lf_anonymous_id="not a visitor id!", lf_utm_source="s" * 300, lf_landing_page=landing
        ),
    )

    with db.read() as conn:
        touch = conn.execute(
            select(touches).where(touches.c.contact_id == outcome.contact_id)
        ).one()
        kinds = conn.execute(
            select(identities.c.kind).where(identities.c.contact_id == outcome.contact_id)
        ).scalars()
        assert sorted(kinds) == ["email"]
    assert (len(touch.utm_source), len(touch.landing_page)) == (255, 2048)
