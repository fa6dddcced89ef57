"""Pure event logic: validation and idempotency keys."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

import orjson

from leadflow.activity.inputs import EventInput
from leadflow.contacts.normalize import email_key, normalize_email, normalize_phone
from leadflow.errors import ValidationError

_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_PROPERTIES_BYTES = 16_384
# The strict encoder: refuses NaN and what JSON has no type for, and names the problem.
# Derived idempotency keys hash its output, so it must not change across versions.
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)
# orjson writes the stored text ~5x faster. It writes NaN as null and takes datetimes and
# 64-bit integers only, so its output is used only when it holds no null (else the strict
# encoder decides) and after it did not raise.
_ORJSON = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class PreparedEvent(NamedTuple):
    """A validated event. (A named tuple: made for every event on the ingest path, where a
    frozen dataclass's constructor cost several times as much.)"""

    type: str
    occurred_at: datetime
    contact_id: int | None
    identity: tuple[str, str] | None  # (kind, key) when the contact is named by identity
    properties: dict[str, Any]
    properties_json: str
    source: str | None
    idempotency_key: str
    # The address as written (normalised, case kept) when the event names an email: a
    # contact the event creates keeps it, as a captured contact does.
    email: str | None = None


def prepare_event(event: EventInput, *, now: datetime) -> PreparedEvent:
    """Validate one event and give it its idempotency key; raise naming the field."""
    if not isinstance(event.type, str) or not _TYPE.match(event.type):
        raise ValidationError(
            f"{event.type!r} is not an event type (lowercase letters, digits and _)", field="type"
        )
    occurred_at = event.occurred_at or now
    if occurred_at.tzinfo is None:
        raise ValidationError("must carry a timezone", field="occurred_at")
    email = _field(_normalized_email, event.email, "email") if event.email else None
    identity = ("email", email_key(email)) if email else _other_identity(event)
    if event.contact_id is None and identity is None:
        raise ValidationError(
            "names no contact: give contact_id, email, phone, external_id or anonymous_id",
            field="contact_id",
        )
    props = dict(event.properties)
    props_json = _properties_json(props)
    if len(props_json) > MAX_PROPERTIES_BYTES:
        raise ValidationError(f"are larger than {MAX_PROPERTIES_BYTES} bytes", field="properties")
    source = event.source.strip().lower() if event.source else None
    key = event.idempotency_key or _derived_key(event, identity, occurred_at, props)
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
        email=email,
    )


def _properties_json(props: dict[str, Any]) -> str:
    try:
        fast = orjson.dumps(props, option=_ORJSON)
    except TypeError:
        fast = b"null"  # not orjson's: let the strict encoder accept or name it
    if b"null" not in fast:
        return fast.decode()
    try:
        return _JSON.encode(props)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"are not JSON: {exc}", field="properties") from None


def _other_identity(event: EventInput) -> tuple[str, str] | None:
    if event.phone:
        return ("phone", _field(normalize_phone, event.phone, "phone"))
    for kind in ("external_id", "anonymous_id"):
        value = getattr(event, kind)
        if value is not None and str(value).strip():
            text = str(value).strip()
            if len(text) > 320:
                raise ValidationError("is longer than 320 characters", field=kind)
            return (kind, text)
    return None


@lru_cache(maxsize=131_072)
def _normalized_email(raw: str) -> str:
    # A stream names the same people again and again; validating each address once per
    # process keeps validation off the per-event cost. Invalid ones raise and are not cached.
    # Sized for a working set of 100,000 people (about 25 MB): at 65,536 entries the
    # benchmark's 100,000 contacts missed more than half the time.
    return normalize_email(raw)


def _field(normalize: Callable[[str], str], raw: str, name: str) -> str:
    try:
        return normalize(raw)
    except ValidationError as exc:
        raise ValidationError(exc.reason, field=name) from None


def _derived_key(
    event: EventInput, identity: tuple[str, str] | None, at: datetime, props: dict[str, Any]
) -> str:
    who = f"c{event.contact_id}" if event.contact_id is not None else f"{identity}"
    # The strict encoder's text (ASCII-escaped), as every version so far has hashed it.
    material = f"{who}|{event.type}|{at.isoformat()}|{event.source}|{_JSON.encode(props)}"
    return "e:" + hashlib.sha256(material.encode()).hexdigest()[:40]
