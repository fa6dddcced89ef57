"""Column mapping for contact imports: which CSV column feeds which leadflow field. Pure.

A mapping is resolved once per file against its header (:func:`resolve`), giving a
:class:`RowMapper` that turns each row's cells into a :class:`ContactInput` and its touches.

Presets:

- ``auto`` recognises common header names, compared without case, spaces or punctuation
  (``E-mail``, ``email_address`` and ``Email Address`` are one name);
- ``hubspot`` reads the column names of a HubSpot contacts export;
- ``salesforce`` reads Salesforce Lead object field names (API names);
- a YAML mapping file names columns explicitly (see ``docs/import-export.md``).

The presets fall back on ``auto`` for columns they do not name. Columns that map to no field
are kept as custom properties under their snake_cased name, unless ``strict`` is set, in
which case they are an error: silently dropping a column loses data, and silently mapping it
wrongly is worse, so keeping it visible as a property is the safe default.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any

from leadflow.contacts.inputs import CHANNELS, AccountInput, ContactInput, TouchInput
from leadflow.contacts.normalize import normalize_phone
from leadflow.contacts.presets import (
    AUTO_COLUMNS,
    CHANNEL_VALUES,
    HUBSPOT_COLUMNS,
    SALESFORCE_COLUMNS,
    STORED_TOUCH_FIELDS,
    TOUCH_PARTS,
)
from leadflow.errors import ValidationError

PRESETS: Mapping[str, Mapping[str, str]] = {
    "auto": {},
    "hubspot": HUBSPOT_COLUMNS,
    "salesforce": SALESFORCE_COLUMNS,
}
CONTACT_FIELDS = (
    "email",
    "other_email",
    "phone",
    "other_phone",
    "external_id",
    "anonymous_id",
    "other_identities",
    "first_name",
    "last_name",
    "title",
    "seniority",
    "company",
    "country",
    "timezone",
    "language",
    "properties",
)
ACCOUNT_FIELDS = ("website", "industry", "employees", "annual_revenue")
_CHANNEL_SET = frozenset(CHANNELS)
ROW_TOUCH_FIELDS = (*TOUCH_PARTS, "created_at")
FIELDS = (*CONTACT_FIELDS, *ACCOUNT_FIELDS, *ROW_TOUCH_FIELDS, *STORED_TOUCH_FIELDS)
IDENTITY_FIELDS = ("email", "other_email", "phone", "other_phone", "external_id", "anonymous_id")
IGNORE = "ignore"
PROPERTY_PREFIX = "properties."


@lru_cache(maxsize=4096)  # also keys lead-source values, which repeat on every row
def header_key(name: str) -> str:
    """How header names compare: ``First Name``, ``first_name`` and ``FIRSTNAME`` are equal."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def property_name(header: str, index: int) -> str:
    """The custom property an unmapped column becomes: its header in snake_case."""
    name = re.sub(r"[^a-z0-9]+", "_", header.lower()).strip("_")
    return name or f"column_{index + 1}"


@dataclass(frozen=True)
class MappingSpec:
    """What the user asked for: a preset, explicit columns, channel values, date format."""

    preset: str = "auto"
    columns: Mapping[str, str] = field(default_factory=dict)  # header -> field
    strict: bool = False
    channels: Mapping[str, str] = field(default_factory=dict)  # source value -> channel
    default_channel: str = "import"
    date_format: str | None = None


class MappingError(ValueError):
    """The header and the mapping do not fit; ``column`` names the column when there is one."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


def validate_target(target: str) -> None:
    if target in FIELDS or target == IGNORE:
        return
    if target.startswith(PROPERTY_PREFIX) and len(target) > len(PROPERTY_PREFIX):
        return
    raise ValueError(
        f"{target!r} is not a leadflow field; use one of {', '.join(FIELDS)}, "
        f"'{PROPERTY_PREFIX}<name>' or '{IGNORE}'"
    )


def resolve(header: Sequence[str], spec: MappingSpec) -> RowMapper:
    """Decide what each column feeds; raise :class:`MappingError` when that cannot work."""
    missing = [c for c in spec.columns if c not in header]
    if missing:
        raise MappingError(f"the mapping names columns the file does not have: {missing}")
    targets: list[str] = []
    taken: set[str] = set()
    unknown: list[str] = []
    for index, name in enumerate(header):
        target = _target(name, spec)
        if target in taken and target in FIELDS:
            if name in spec.columns:
                raise MappingError(f"two columns map to {target!r}", column=name)
            target = None  # a second column for the same field is kept as a property
        if target is None:
            unknown.append(name)
            target = PROPERTY_PREFIX + property_name(name, index)
        taken.add(target)
        targets.append(target)
    if spec.strict and unknown:
        raise MappingError(
            f"unknown columns {unknown}; map them in a mapping file, or drop --strict "
            "to keep them as custom properties",
            column=unknown[0],
        )
    if not taken.intersection({*IDENTITY_FIELDS, "other_identities"}):
        raise MappingError(
            "no column gives an email, phone, external id or anonymous id, so no row could "
            f"name a person (columns: {list(header)})"
        )
    return RowMapper(header=tuple(header), targets=tuple(targets), spec=spec)


def _target(name: str, spec: MappingSpec) -> str | None:
    if name in spec.columns:
        return spec.columns[name]
    key = header_key(name)
    if key.startswith("leadflow"):
        return IGNORE  # leadflow's own bookkeeping columns (export ids, rejects reasons)
    preset = {header_key(k): v for k, v in PRESETS.get(spec.preset, {}).items()}
    return preset.get(key) or AUTO_COLUMNS.get(key)


@dataclass(frozen=True)
class MappedRow:
    contact: ContactInput
    touches: tuple[TouchInput, ...]
    extra_identities: tuple[tuple[str, str], ...]  # external and anonymous ids beyond the first


@dataclass(frozen=True)
class RowMapper:
    """A mapping resolved against one header; :meth:`map` is called once per row."""

    header: tuple[str, ...]
    targets: tuple[str, ...]
    spec: MappingSpec

    @cached_property
    def carries_touches(self) -> bool:
        """Whether rows give first and last touches (as ``export`` writes them)."""
        return "first_touch_channel" in self.targets or "last_touch_channel" in self.targets

    @cached_property
    def _plan(self) -> tuple[tuple[int, str, str | None], ...]:
        """Per column that is read: its index, its target, and its property name if any.

        Worked out once per file rather than once per cell.
        """
        return tuple(
            (
                index,
                target,
                target[len(PROPERTY_PREFIX) :] if target.startswith(PROPERTY_PREFIX) else None,
            )
            for index, target in enumerate(self.targets)
            if target != IGNORE
        )

    @cached_property
    def _split_plan(
        self,
    ) -> tuple[tuple[tuple[int, str], ...], tuple[tuple[int, str], ...]] | None:
        """The plan as (field columns, property columns), when no column holds JSON
        properties: the two dicts can then be built apart, in column order."""
        if any(target == "properties" for _, target, _ in self._plan):
            return None
        fields = tuple((i, t) for i, t, prop in self._plan if prop is None)
        props = tuple((i, prop) for i, _, prop in self._plan if prop is not None)
        return fields, props

    def column_of(self, target: str) -> str | None:
        """The header of the column that feeds ``target`` (for error messages)."""
        for name, mapped in zip(self.header, self.targets, strict=True):
            if mapped == target:
                return name
        return None

    def map(self, cells: Sequence[str], *, default_region: str | None = None) -> MappedRow:
        """Turn one row into inputs; raise :class:`ValidationError` naming the column."""
        if len(cells) != len(self.header):
            raise ValueError(f"{len(cells)} cells for {len(self.header)} columns")
        values, properties = self._values(cells)
        source = values.get("channel")
        channel = self._channel(source)
        if source is not None and source.lower() not in _CHANNEL_SET:
            properties.setdefault("lead_source", source)  # keep what the file said
        contact, extra = self._contact(values, properties, default_region)
        if self.carries_touches:
            touches = self._stored_touches(values, cells)  # an export: its touches, if any
        else:
            touches = (self._row_touch(values, channel, cells),)
        return MappedRow(contact=contact, touches=touches, extra_identities=extra)

    def _values(self, cells: Sequence[str]) -> tuple[dict[str, str], dict[str, Any]]:
        """A row's field values and custom properties, blank cells left out."""
        split = self._split_plan
        if split is not None:  # the common case, in two comprehensions
            fields, props = split
            values = {t: text for i, t in fields if (text := cells[i].strip())}
            return values, {p: text for i, p in props if (text := cells[i].strip())}
        values = {}
        properties: dict[str, Any] = {}
        for index, target, prop in self._plan:
            text = cells[index].strip()
            if not text:
                continue
            if prop is not None:
                properties[prop] = text
            elif target == "properties":
                properties.update(_json_object(text, self.header[index]))
            else:
                values[target] = text
        return values, properties

    def _channel(self, source: str | None) -> str:
        if source is None:
            return self.spec.default_channel
        if source in self.spec.channels:
            return self.spec.channels[source]
        return CHANNEL_VALUES.get(header_key(source), self.spec.default_channel)

    def _contact(
        self, values: dict[str, str], properties: dict[str, Any], region: str | None
    ) -> tuple[ContactInput, tuple[tuple[str, str], ...]]:
        others_text = values.get("other_identities")
        emails: list[str] = []
        phones: list[str] = []
        extra: list[tuple[str, str]] = []
        if others_text:
            others = _identities(others_text, self._column("other_identities"))
            emails = [v for k, v in others if k == "email"]
            phones = [v for k, v in others if k == "phone"]
            extra = [(k, v) for k, v in others if k in ("external_id", "anonymous_id")]
        other_email = values.get("other_email")
        other_phone = values.get("other_phone")
        phone = values.get("phone")
        if phone and region and "country" not in values and not phone.startswith("+"):
            phone = self._checked(lambda p: normalize_phone(p, region), phone, "phone")
        contact = ContactInput(
            email=values.get("email"),
            phone=phone,
            external_id=values.get("external_id"),
            anonymous_id=values.get("anonymous_id"),
            other_emails=tuple(filter(None, [other_email, *emails]))
            if emails
            else _one(other_email),
            other_phones=tuple(filter(None, [other_phone, *phones]))
            if phones
            else _one(other_phone),
            first_name=values.get("first_name"),
            last_name=values.get("last_name"),
            title=values.get("title"),
            seniority=values.get("seniority"),
            company=values.get("company"),
            country=values.get("country"),
            timezone=values.get("timezone"),
            language=values.get("language"),
            properties=properties,
            account=self._account(values),
        )
        return contact, tuple(extra)

    def _account(self, values: dict[str, str]) -> AccountInput | None:
        if not any(f in values for f in ACCOUNT_FIELDS):
            return None
        employees = values.get("employees")
        revenue = values.get("annual_revenue")
        return AccountInput(
            domain=values.get("website"),
            industry=values.get("industry"),
            employee_count=self._checked(parse_count, employees, "employees"),
            annual_revenue=self._checked(parse_amount, revenue, "annual_revenue"),
        )

    def _row_touch(self, values: dict[str, str], channel: str, cells: Sequence[str]) -> TouchInput:
        created = values.get("created_at")
        get = values.get
        return TouchInput(  # TOUCH_PARTS, spelled out: a dict of them per row costs more
            channel=channel,
            occurred_at=self._checked(self._date, created, "created_at"),
            campaign=get("campaign"),
            utm_source=get("utm_source"),
            utm_medium=get("utm_medium"),
            utm_campaign=get("utm_campaign"),
            utm_term=get("utm_term"),
            utm_content=get("utm_content"),
            referrer=get("referrer"),
            landing_page=get("landing_page"),
            idempotency_key=row_key(cells),
        )

    def _stored_touches(
        self, values: dict[str, str], cells: Sequence[str]
    ) -> tuple[TouchInput, ...]:
        """The first and last touch of an exported contact, given as ``first_touch_*``."""
        found = []
        for which in ("first", "last"):
            prefix = f"{which}_touch_"
            if f"{prefix}channel" not in values:
                continue
            found.append(
                TouchInput(
                    channel=self._channel(values[f"{prefix}channel"]),
                    occurred_at=self._checked(self._date, values.get(f"{prefix}at"), prefix + "at"),
                    **{part: values.get(prefix + part) for part in TOUCH_PARTS[1:]},
                    idempotency_key=values.get(f"{prefix}key") or f"{row_key(cells)}:{which}",
                )
            )
        return tuple(found)

    def _date(self, text: str) -> datetime:
        return parse_datetime(text, self.spec.date_format)

    def _column(self, target: str) -> str:
        return self.column_of(target) or target

    def _checked(self, fn: Any, raw: str | None, target: str) -> Any:
        if raw is None:
            return None
        try:
            return fn(raw)
        except (ValidationError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, ValidationError) else str(exc)
            raise ValidationError(reason, field=self._column(target)) from None


def _one(value: str | None) -> tuple[str, ...]:
    return () if not value else (value,)


def row_key(cells: Sequence[str]) -> str:
    """A row's touch idempotency key: the same row imported again adds no touch."""
    digest = hashlib.sha256("\x1f".join(cells).encode()).hexdigest()
    return "import:" + digest[:40]


@lru_cache(maxsize=65_536)  # files repeat dates and times; datetimes are immutable
def parse_datetime(text: str, date_format: str | None = None) -> datetime:
    """ISO 8601 (or ``date_format``); times without a zone are taken as UTC."""
    try:
        value = (
            datetime.strptime(text, date_format) if date_format else datetime.fromisoformat(text)
        )
    except ValueError as exc:
        expected = f"a date like {date_format!r}" if date_format else "an ISO 8601 date"
        raise ValueError(f"{text!r} is not a valid date ({exc}); expected {expected}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_RANGE = re.compile(r"^(\d+)\s*(?:-|\u2013|to|\+)")
_AMOUNT = re.compile(r"^(\d+(?:\.\d+)?)\s*(k|m|mm|mio|b|bn)?$")
_MULTIPLIERS = {None: 1, "k": 1e3, "m": 1e6, "mm": 1e6, "mio": 1e6, "b": 1e9, "bn": 1e9}


@lru_cache(maxsize=4096)  # a column of head counts holds few distinct values
def parse_count(text: str) -> int:
    """An employee count: ``1,200``, ``250.0``, or a band such as ``51-200`` or ``10001+``
    (its lower bound, the figure the company is known to reach)."""
    compact = text.replace(",", "").replace(" ", "").replace("_", "")
    match = _RANGE.match(compact)
    if match:
        return int(match.group(1))
    try:
        number = float(compact)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of employees") from None
    if number != int(number) or number < 0:
        raise ValueError(f"{text!r} is not a whole, non-negative number of employees")
    return int(number)


def parse_amount(text: str) -> float:
    """An amount of money: ``$1,200,000``, ``1.2M``, ``€ 350k``; the currency is not kept."""
    compact = re.sub(r"[\s,$€£¥]|usd|eur|gbp", "", text.lower())
    match = _AMOUNT.match(compact)
    if not match:
        raise ValueError(f"{text!r} is not an amount")
    return float(match.group(1)) * _MULTIPLIERS[match.group(2)]


def _json_object(text: str, column: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"is not valid JSON: {exc.msg}", field=column) from None
    if not isinstance(value, dict):
        raise ValidationError("must be a JSON object", field=column)
    return value


def _identities(text: str | None, column: str) -> list[tuple[str, str]]:
    """``kind:value;kind:value``, as ``export`` writes a contact's further identities."""
    if not text:
        return []
    found = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        kind, sep, value = part.partition(":")
        if not sep or kind not in ("email", "phone", "external_id", "anonymous_id") or not value:
            raise ValidationError(f"{part!r} is not kind:value", field=column)
        if len(value) > 320:
            raise ValidationError(f"{kind} is longer than 320 characters", field=column)
        found.append((kind, value))
    return found
