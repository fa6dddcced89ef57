"""Pure event logic: validation and idempotency keys."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadflow.activity.inputs import EventInput
from leadflow.contacts.normalize import email_key, normalize_email, normalize_phone
from leadflow.errors import ValidationError

_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_PROPERTIES_BYTES = 16_384


@dataclass(frozen=True)
class PreparedEvent:
    type: str
    occurred_at: datetime
    contact_id: int | None
    identity: tuple[str, str] | None  # (kind, key) when the contact is named by identity
    properties: dict[str, Any]
    properties_json: str
    source: str | None
    idempotency_key: str


def prepare_event(event: EventInput, *, now: datetime) -> PreparedEvent:
    """Validate one event and give it its idempotency key; raise naming the field."""
    if not isinstance(event.type, str) or not _TYPE.match(event.type):
        raise ValidationError(
            f"{event.type!r} is not an event type (lowercase letters, digits and _)", field="type"
        )
    occurred_at = event.occurred_at or now
    if occurred_at.tzinfo is None:
        raise ValidationError("must carry a timezone", field="occurred_at")
    identity = _identity(event)
    if event.contact_id is None and identity is None:
        raise ValidationError(
            "names no contact: give contact_id, email, phone, external_id or anonymous_id",
            field="contact_id",
        )
    props = dict(event.properties)
    try:
        props_json = json.dumps(props, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"are not JSON: {exc}", field="properties") from None
    if len(props_json) > MAX_PROPERTIES_BYTES:
        raise ValidationError(f"are larger than {MAX_PROPERTIES_BYTES} bytes", field="properties")
    source = event.source.strip().lower() if event.source else None
    key = event.idempotency_key or _derived_key(event, identity, occurred_at, props_json)
    if len(key) > 128:
        raise ValidationError("is longer than 128 characters", field="idempotency_key")
    return PreparedEvent(
        type=event.type,
        occurred_at=occurred_at,
        contact_id=event.contact_id,
        identity=identity,
        properties=props,
        properties_json=props_json,
        source=source,
        idempotency_key=key,
    )


def _identity(event: EventInput) -> tuple[str, str] | None:
    try:
        if event.email:
            return ("email", email_key(normalize_email(event.email)))
        if event.phone:
            return ("phone", normalize_phone(event.phone))
    except ValidationError as exc:
        raise ValidationError(exc.reason, field="email" if event.email else "phone") from None
    for kind in ("external_id", "anonymous_id"):
        value = getattr(event, kind)
        if value is not None and str(value).strip():
            text = str(value).strip()
            if len(text) > 320:
                raise ValidationError("is longer than 320 characters", field=kind)
            return (kind, text)
    return None


def _derived_key(
    event: EventInput, identity: tuple[str, str] | None, at: datetime, props_json: str
) -> str:
    who = f"c{event.contact_id}" if event.contact_id is not None else f"{identity}"
    material = f"{who}|{event.type}|{at.isoformat()}|{event.source}|{props_json}"
    return "e:" + hashlib.sha256(material.encode()).hexdigest()[:40]
