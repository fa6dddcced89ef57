"""Pure capture logic: what a form submission says, checked against its form's config.

A submission arrives as flat fields, urlencoded or JSON alike: the form's own fields, and
the ones the tracking snippet adds (``lf_anonymous_id``, ``lf_utm_source`` ...,
``lf_landing_page``, ``lf_referrer``). Nothing here touches storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadflow.capture.config import Consent, Form, Target
from leadflow.contacts.engine import TOUCH_TEXT_FIELDS
from leadflow.contacts.inputs import AccountInput, ContactInput, TouchInput
from leadflow.errors import ValidationError
from leadflow.tracking.engine import ANONYMOUS_ID

# The snippet's fields and where they go on the touch.
TRACKING_FIELDS = {
    "lf_utm_source": "utm_source",
    "lf_utm_medium": "utm_medium",
    "lf_utm_campaign": "utm_campaign",
    "lf_utm_term": "utm_term",
    "lf_utm_content": "utm_content",
    "lf_landing_page": "landing_page",
    "lf_referrer": "referrer",
}
ANONYMOUS_FIELD = "lf_anonymous_id"
TICKED = frozenset({"on", "true", "1", "yes", "checked"})
MAX_VALUE = 5000  # characters in one answer; a form's text areas stay well below
_NUMBERS = {"employee_count": int, "annual_revenue": float}


@dataclass(frozen=True)
class Submission:
    """A submission a form accepts: who, how they arrived, what they answered."""

    form: Form
    contact: ContactInput
    touch: TouchInput
    answers: Mapping[str, Any]  # form field -> answer, for the form_submit activity
    consent: Consent | None  # the consent given (ticked), if any
    anonymous_id: str | None


def is_spam(form: Form, values: Mapping[str, Any]) -> bool:
    """A filled honeypot: people never see the field, bots fill every field they find."""
    return form.honeypot is not None and bool(_text(values.get(form.honeypot)))


def read_submission(form: Form, values: Mapping[str, Any]) -> Submission:
    """Check ``values`` against the form; raise :class:`ValidationError` naming the field."""
    answers: dict[str, Any] = {}
    for name in form.fields:
        answer = _answer(values.get(name), name)
        if answer is not None:
            answers[name] = answer
    for name in form.required:
        if name not in answers:
            raise ValidationError("is required", field=name)
    consent = _consent(form.consent, values)
    # The snippet's fields are the page's, not the person's: one that is malformed (a
    # tampered cookie, a URL too long to keep) is dropped or cut rather than refusing the
    # form, which the person could not fix.
    anonymous_id = _text(values.get(ANONYMOUS_FIELD))
    if anonymous_id is not None and not ANONYMOUS_ID.fullmatch(anonymous_id):
        anonymous_id = None
    return Submission(
        form=form,
        contact=_contact(form.fields, answers, anonymous_id),
        touch=_touch(form, values),
        answers=answers,
        consent=consent,
        anonymous_id=anonymous_id,
    )


def _answer(raw: Any, name: str) -> Any:
    if isinstance(raw, list | tuple):
        items = [t for t in (_text(v) for v in raw) if t is not None]
        if len(items) > 1:
            return [_bounded(t, name) for t in items]
        raw = items[0] if items else None
    if isinstance(raw, dict):
        raise ValidationError("expected a value, got an object", field=name)
    text = _text(raw)
    return None if text is None else _bounded(text, name)


def _bounded(text: str, name: str) -> str:
    if len(text) > MAX_VALUE:
        raise ValidationError(f"is longer than {MAX_VALUE} characters", field=name)
    return text


def _consent(consent: Consent | None, values: Mapping[str, Any]) -> Consent | None:
    if consent is None:
        return None
    raw = values.get(consent.field)
    ticked = raw is True or (_text(raw) or "").lower() in TICKED
    if consent.required and not ticked:
        raise ValidationError("must be ticked to submit this form", field=consent.field)
    return consent if ticked else None


def _contact(
    fields: Mapping[str, Target], answers: Mapping[str, Any], anonymous_id: str | None
) -> ContactInput:
    person: dict[str, Any] = {}
    account: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for name, answer in answers.items():
        target = fields[name]
        if target.kind == "property":
            properties[target.name] = answer
        elif target.kind in ("contact", "account"):
            value = _single(answer, name)
            if target.kind == "contact":
                person[target.name] = value
            else:
                account[target.name] = _number(target.name, value, name)
    if "name" in account:  # the company a person names is their contact's company too
        person.setdefault("company", account["name"])
    if "email" not in person and "phone" not in person:
        field = next(n for n, t in fields.items() if t.kind == "contact" and t.name == "email")
        raise ValidationError("give an email address (or a phone number)", field=field)
    return ContactInput(
        **person,
        anonymous_id=anonymous_id,
        properties=properties,
        account=AccountInput(**account) if account else None,
    )


def _single(answer: Any, name: str) -> str:
    if isinstance(answer, list):
        raise ValidationError("expected one value, got several", field=name)
    return str(answer)


def _number(target: str, value: str, name: str) -> Any:
    kind = _NUMBERS.get(target)
    if kind is None:
        return value
    try:
        return kind(value.replace(",", ""))
    except ValueError:
        raise ValidationError(f"{value!r} is not a number", field=name) from None


def _touch(form: Form, values: Mapping[str, Any]) -> TouchInput:
    given = {
        attr: text[: TOUCH_TEXT_FIELDS[attr]] if (text := _text(values.get(name))) else None
        for name, attr in TRACKING_FIELDS.items()
    }
    return TouchInput(
        channel=form.channel,
        campaign=form.campaign,
        utm_source=given["utm_source"],
        utm_medium=given["utm_medium"],
        utm_campaign=given["utm_campaign"],
        utm_term=given["utm_term"],
        utm_content=given["utm_content"],
        landing_page=given["landing_page"],
        referrer=given["referrer"],
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = (value if isinstance(value, str) else str(value).lower()).strip()
    return text or None
