"""Capturing a form submission, and stitching a visitor's anonymous history to a person.

One transaction per submission: the contact (created or updated, with a ``web_form``
touch), a ``form_submit`` activity with the answers, a ``consent_given`` activity with the
exact text shown, and the stitching. Page views the tracking snippet recorded under the
visitor's anonymous id live on an anonymous contact; when a form (or an identified email
click) names the person, that contact is merged into theirs with the ordinary merge, so
every earlier page view moves with it and the merge is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from leadflow.activity.engine import PreparedEvent, prepare_event
from leadflow.activity.inputs import EventInput
from leadflow.activity.service import FORM_TYPE, record_prepared
from leadflow.capture.config import Form
from leadflow.capture.engine import Submission, is_spam, read_submission
from leadflow.clock import Clock
from leadflow.contacts.engine import PreparedContact, prepare_contact, prepare_touch
from leadflow.contacts.merge import merge_in
from leadflow.contacts.models import identities
from leadflow.contacts.queries import resolve_contact_id
from leadflow.contacts.service import lookup_identities, upsert_contacts
from leadflow.errors import ValidationError
from leadflow.lifecycle.service import active_lifecycle
from leadflow.privacy.tombstones import refuse_erased
from leadflow.storage.database import Database

CONSENT_TYPE = "consent_given"
ANONYMOUS = "anonymous_id"


@dataclass(frozen=True)
class CaptureOutcome:
    """What a submission did. A honeypot catch is ``stored=False`` and is answered like an
    accepted submission, so a bot learns nothing."""

    stored: bool
    contact_id: int | None = None
    created: bool = False
    stitched: tuple[int, ...] = ()  # anonymous contacts merged into the contact


def submit_form(
    db: Database, clock: Clock, form: Form, values: Mapping[str, Any]
) -> CaptureOutcome:
    """Capture one submission of ``form`` (flat fields, as posted)."""
    now = clock.now()
    checked = prepare_submission(form, values, now)
    if checked is None:
        return CaptureOutcome(stored=False)
    with db.write() as conn:
        return capture_submission(conn, *checked, now=now)


def prepare_submission(
    form: Form, values: Mapping[str, Any], now: datetime
) -> tuple[Submission, PreparedContact] | None:
    """Check a submission before any transaction; None for a filled honeypot."""
    if is_spam(form, values):
        return None
    submission = read_submission(form, values)
    return submission, _prepare(submission, now)


def _prepare(submission: Submission, now: datetime) -> PreparedContact:
    try:
        prepared = prepare_contact(submission.contact)
        prepare_touch(submission.touch, now=now)
    except ValidationError as exc:
        raise ValidationError(exc.reason, field=_form_field(submission, exc.field)) from None
    return prepared


def _form_field(submission: Submission, field: str | None) -> str | None:
    """The form's own name for a contact field a problem names (``email`` -> ``work_email``)."""
    named = {"company_name": "company"}.get(field or "", field)
    for name, target in submission.form.fields.items():
        if target.kind == "contact" and named == target.name:
            return name
        if target.kind == "account" and named == f"account.{target.name}":
            return name
    return field


def capture_submission(
    conn: Connection, submission: Submission, prepared: PreparedContact, *, now: datetime
) -> CaptureOutcome:
    """Write a checked submission in the caller's transaction."""
    prepared, stitched = stitch_before_capture(conn, prepared, now=now)
    touch = prepare_touch(submission.touch, now=now)
    result = upsert_contacts(conn, [(prepared, touch)], now=now)[0]
    events = [_form_event(conn, submission, result.contact_id, now)]
    if submission.consent is not None:
        events.append(_consent_event(submission, result.contact_id, now))
    record_prepared(conn, events, now=now)
    return CaptureOutcome(
        stored=True, contact_id=result.contact_id, created=result.created, stitched=stitched
    )


def _form_event(
    conn: Connection, submission: Submission, contact_id: int, now: datetime
) -> PreparedEvent:
    form = submission.form
    # A qualification target's answer is filed under the field lifecycle.yaml's capture:
    # reads for that criterion, so its value map and confidence apply as for any form.
    config = active_lifecycle(conn)
    captures = {c.criterion: c.field for c in config.captures} if config else {}
    fields = {}
    for name, answer in submission.answers.items():
        target = form.fields[name]
        key = captures.get(target.name, name) if target.kind == "qualification" else name
        fields[key] = answer
    properties = {"form": form.name, "fields": fields, "channel": form.channel}
    if submission.anonymous_id:
        properties[ANONYMOUS] = submission.anonymous_id
    event = EventInput(
        type=FORM_TYPE,
        contact_id=contact_id,
        occurred_at=now,
        properties=properties,
        source=f"form:{form.name}",
    )
    return prepare_event(event, now=now)


def _consent_event(submission: Submission, contact_id: int, now: datetime) -> PreparedEvent:
    consent = submission.consent
    assert consent is not None
    properties = {
        "purpose": consent.purpose,
        "text": consent.text,  # exactly as the form showed it: the proof of what was agreed
        "form": submission.form.name,
        "field": consent.field,
        "given": True,
    }
    event = EventInput(
        type=CONSENT_TYPE,
        contact_id=contact_id,
        occurred_at=now,
        properties=properties,
        source=f"form:{submission.form.name}",
    )
    return prepare_event(event, now=now)


# -- stitching ------------------------------------------------------------------------------


def stitch_before_capture(
    conn: Connection, prepared: PreparedContact, *, now: datetime
) -> tuple[PreparedContact, tuple[int, ...]]:
    """Settle the capture's anonymous ids before it is written.

    An anonymous id nobody has, or one held by the contact the capture lands on, goes with
    the capture. One held by an anonymous contact (only anonymous ids) is merged into the
    person the capture names; one held by another identified person (a shared computer)
    stays theirs and is left out, so neither history is mixed into the other.
    """
    anonymous = [k for k in prepared.identities if k[0] == ANONYMOUS]
    if not anonymous:
        return prepared, ()
    owners = lookup_identities(conn, prepared.identities)
    people = {owners[k] for k in prepared.identities if k[0] != ANONYMOUS and k in owners}
    survivor = min(people) if people else None  # the contact upsert_contacts will choose
    dropped: set[tuple[str, str]] = set()
    stitched: list[int] = []
    for key in anonymous:
        owner = owners.get(key)
        if owner is None or owner == survivor or owner in people or owner in stitched:
            continue
        if not _anonymous_only(conn, owner):
            dropped.add(key)
        elif survivor is None:  # a new person: the capture lands on the visitor's contact
            survivor = owner
        else:
            _merge_visitor(conn, survivor, owner, key[1], now=now)
            stitched.append(owner)
    kept = tuple(k for k in prepared.identities if k not in dropped)
    return replace(prepared, identities=kept), tuple(stitched)


@dataclass(frozen=True)
class IdentifyOutcome:
    contact_id: int
    stitched: bool  # the visitor's history is now the contact's
    merged_id: int | None = None  # the anonymous contact merged into it, if there was one


def identify_visitor(
    conn: Connection, contact_ref: int | str, anonymous_id: str, *, now: datetime
) -> IdentifyOutcome:
    """An identified email click: the visitor ``anonymous_id`` is the contact the signed
    link names. Their anonymous contact is merged in, or the id is added to the contact;
    an id held by another identified person stays theirs (a forwarded email)."""
    contact_id = resolve_contact_id(conn, contact_ref)
    refuse_erased(conn, contact_id)  # a link in an old email must not name the person again
    key = (ANONYMOUS, anonymous_id)
    owner = lookup_identities(conn, [key]).get(key)
    if owner == contact_id:
        return IdentifyOutcome(contact_id, stitched=True)
    if owner is None:
        conn.execute(
            identities.insert().values(
                contact_id=contact_id, kind=ANONYMOUS, value=anonymous_id, created_at=now
            )
        )
        return IdentifyOutcome(contact_id, stitched=True)
    if not _anonymous_only(conn, owner):
        return IdentifyOutcome(contact_id, stitched=False)
    _merge_visitor(conn, contact_id, owner, anonymous_id, now=now)
    return IdentifyOutcome(contact_id, stitched=True, merged_id=owner)


def _anonymous_only(conn: Connection, contact_id: int) -> bool:
    kinds = conn.execute(
        select(identities.c.kind).where(identities.c.contact_id == contact_id).distinct()
    ).scalars()
    return set(kinds) == {ANONYMOUS}


def _merge_visitor(
    conn: Connection, survivor: int, visitor: int, anonymous_id: str, *, now: datetime
) -> None:
    reason = f"anonymous visitor {anonymous_id} identified"
    merge_in(conn, survivor, visitor, merged_by="capture", reason=reason, now=now)
