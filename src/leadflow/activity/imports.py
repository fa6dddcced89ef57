"""Pure parsing for ``import events``: CSV rows and JSON lines into :class:`EventInput`.

A CSV file names its fields in the header (``type``, ``occurred_at``, ``contact_id``,
``email``, ``phone``, ``external_id``, ``anonymous_id``, ``source``, ``idempotency_key``,
``properties``; a few common synonyms are understood); a JSON line uses the same keys.
Everything else becomes a property of the event, as does a ``properties`` JSON object.
Columns and keys named ``leadflow_*`` (written into rejects files) are ignored.

An event without an idempotency key gets the one :func:`prepare_event` derives from its
content, so the same file imported twice stores each event once. An event without a time
would be stamped with the time of the import, which differs between runs; such a row gets a
key derived from the row itself instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadflow.activity.inputs import EventInput
from leadflow.contacts.mapping import header_key, parse_datetime
from leadflow.errors import ValidationError

FIELDS = (
    "type",
    "occurred_at",
    "contact_id",
    "email",
    "phone",
    "external_id",
    "anonymous_id",
    "source",
    "idempotency_key",
    "properties",
)
_SYNONYMS = {
    **{header_key(f): f for f in FIELDS},
    "event": "type",
    "eventtype": "type",
    "timestamp": "occurred_at",
    "time": "occurred_at",
    "occurred": "occurred_at",
    "emailaddress": "email",
    "key": "idempotency_key",
    "eventid": "idempotency_key",
}
_WHO = ("contact_id", "email", "phone", "external_id", "anonymous_id")
IGNORED = object()


def field_of(name: str) -> str | object | None:
    """The event field a column or key feeds; ``IGNORED``; or None for a property."""
    key = header_key(name)
    if key.startswith("leadflow"):
        return IGNORED
    return _SYNONYMS.get(key)


@dataclass(frozen=True)
class EventColumns:
    """A CSV header resolved once: what each column feeds."""

    header: tuple[str, ...]
    fields: tuple[str | object | None, ...]

    def column_of(self, event_field: str | None) -> str | None:
        for name, mapped in zip(self.header, self.fields, strict=True):
            if mapped == event_field:
                return name
        return event_field


def resolve_columns(header: Sequence[str]) -> EventColumns:
    """Check the header can name an event and its contact; raise ``ValueError`` if not."""
    fields = tuple(field_of(name) for name in header)
    if "type" not in fields:
        raise ValueError(f"has no 'type' column (columns: {list(header)})")
    if not any(f in fields for f in _WHO):
        raise ValueError(
            "has no column naming the contact: contact_id, email, phone, external_id or "
            f"anonymous_id (columns: {list(header)})"
        )
    return EventColumns(header=tuple(header), fields=fields)


def event_from_cells(columns: EventColumns, cells: Sequence[str]) -> EventInput:
    """One CSV row as an event; raise :class:`ValidationError` naming the column."""
    values: dict[str, str] = {}
    properties: dict[str, Any] = {}
    for name, target, cell in zip(columns.header, columns.fields, cells, strict=True):
        text = cell.strip()
        if not text or target is IGNORED:
            continue
        if target is None:
            properties[name] = text
        elif target == "properties":
            properties.update(_object(json_value(text, name), name))
        else:
            values[str(target)] = text
    return _event(values, properties, "\x1f".join(cells), columns.column_of)


def event_from_record(record: Mapping[str, Any]) -> EventInput:
    """One JSON line as an event; raise :class:`ValidationError` naming the key."""
    values: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    names: dict[str, str] = {}
    for name, value in record.items():
        target = field_of(name)
        if target is IGNORED or value is None:
            continue
        if target is None:
            properties[name] = value
        elif target == "properties":
            properties.update(_object(value, name))
        else:
            values[str(target)] = value
            names[str(target)] = name
    content = json.dumps(record, sort_keys=True, default=str)
    return _event(values, properties, content, lambda f: names.get(f or "", f))


def _event(
    values: Mapping[str, Any],
    properties: dict[str, Any],
    content: str,
    column: Callable[[str | None], str | None],
) -> EventInput:
    occurred_at = values.get("occurred_at")
    key = values.get("idempotency_key")
    if key is None and occurred_at is None:
        key = "import:" + hashlib.sha256(content.encode()).hexdigest()[:40]
    try:
        return EventInput(
            type=_text(values.get("type")) or "",
            occurred_at=_when(occurred_at) if occurred_at is not None else None,
            contact_id=_contact_id(values.get("contact_id")),
            email=_text(values.get("email")),
            phone=_text(values.get("phone")),
            external_id=_text(values.get("external_id")),
            anonymous_id=_text(values.get("anonymous_id")),
            properties=properties,
            source=_text(values.get("source")),
            idempotency_key=_text(key),
        )
    except _FieldError as exc:
        raise ValidationError(exc.reason, field=column(exc.field)) from None


class _FieldError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _when(value: Any) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)  # epoch seconds
    try:
        return parse_datetime(str(value).strip())
    except ValueError as exc:
        raise _FieldError("occurred_at", str(exc)) from None


def _contact_id(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if not text.isdigit():
        raise _FieldError("contact_id", f"{value!r} is not a contact id (a whole number)")
    return int(text)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def json_value(text: str, column: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"is not valid JSON: {exc.msg}", field=column) from None


def _object(value: Any, column: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError("must be a JSON object", field=column)
    return value
