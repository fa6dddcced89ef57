"""Pure contact logic: turn what a capture says into normalised, validated values.

Nothing here touches storage, so the importer can run it in worker processes.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from leadflow.contacts.inputs import CHANNELS, AccountInput, ContactInput, TouchInput
from leadflow.contacts.normalize import (
    SENIORITIES,
    email_domain,
    email_key,
    is_free_email_domain,
    normalize_country,
    normalize_domain,
    normalize_email,
    normalize_phone,
    seniority_from_title,
)
from leadflow.errors import ValidationError

# The person fields a capture may set, with their column widths.
PERSON_FIELDS: Mapping[str, int] = {
    "first_name": 100,
    "last_name": 100,
    "title": 200,
    "company_name": 255,
    "timezone": 64,
    "language": 16,
}

_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{2,8})*$")


@dataclass(frozen=True)
class PreparedAccount:
    domain: str | None
    values: Mapping[str, Any]  # column -> value, only the ones given
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedContact:
    """A capture after normalisation: identities as (kind, key) and the columns to set."""

    identities: tuple[tuple[str, str], ...]
    values: Mapping[str, Any]
    properties: Mapping[str, Any]
    account: PreparedAccount | None


def prepare_contact(item: ContactInput) -> PreparedContact:
    """Normalise and validate; raise :class:`ValidationError` naming the field."""
    country = _optional(normalize_country, item.country, "country")
    emails = [_field(normalize_email, e, "email") for e in _present(item.email, *item.other_emails)]
    phones = [
        _field(lambda p: normalize_phone(p, country), p, "phone")
        for p in _present(item.phone, *item.other_phones)
    ]
    identities = [("email", email_key(e)) for e in emails]
    identities += [("phone", p) for p in phones]
    for kind in ("external_id", "anonymous_id"):
        value = _clean(getattr(item, kind))
        if value is not None:
            identities.append((kind, _bounded(value, 320, kind)))
    if not identities:
        raise ValidationError("needs at least one of email, phone, external_id, anonymous_id")
    values = _person_values(item, country)
    if emails:
        values["email"] = emails[0]
    if phones:
        values["phone"] = phones[0]
    account = prepare_account(item.account, company=item.company, emails=emails)
    return PreparedContact(
        identities=tuple(dict.fromkeys(identities)),
        values=values,
        properties=dict(item.properties),
        account=account,
    )


def _person_values(item: ContactInput, country: str | None) -> dict[str, Any]:
    given = (
        ("first_name", item.first_name),
        ("last_name", item.last_name),
        ("title", item.title),
        ("company_name", item.company),
        ("timezone", item.timezone),
        ("language", item.language),
    )
    values: dict[str, Any] = {}
    for name, raw in given:
        if raw is None:
            continue
        value = _clean(raw)
        if value is not None:
            values[name] = _bounded(value, PERSON_FIELDS[name], name)
    if "timezone" in values and values["timezone"] not in _zones():
        raise ValidationError(f"{values['timezone']!r} is not an IANA time zone", field="timezone")
    if "language" in values and not _LANGUAGE.match(values["language"]):
        raise ValidationError(f"{values['language']!r} is not a language tag", field="language")
    if country:
        values["country"] = country
    seniority = _clean(item.seniority)
    if seniority is not None:
        seniority = seniority.lower().replace("-", "_").replace(" ", "_")
        if seniority not in SENIORITIES:
            raise ValidationError(
                f"{item.seniority!r} is not one of {', '.join(SENIORITIES)}", field="seniority"
            )
        values["seniority"] = seniority
    elif "title" in values:
        derived = seniority_from_title(values["title"])
        if derived:
            values["seniority"] = derived
    return values


def prepare_account(
    account: AccountInput | None, *, company: str | None, emails: list[str]
) -> PreparedAccount | None:
    """The account a contact belongs to: given explicitly, or by its work email's domain."""
    domain = None
    if account is not None and _clean(account.domain):
        domain = _field(normalize_domain, account.domain, "account.domain")
    elif emails:
        candidate = email_domain(emails[0])
        if not is_free_email_domain(candidate):
            domain = candidate
    values: dict[str, Any] = {}
    name = _clean(account.name if account else None) or _clean(company)
    if name:
        values["name"] = _bounded(name, 255, "account.name")
    if account is not None:
        values.update(_account_values(account))
    if domain is None and not values:
        return None
    properties = dict(account.properties) if account else {}
    return PreparedAccount(domain=domain, values=values, properties=properties)


def _account_values(account: AccountInput) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if _clean(account.industry):
        values["industry"] = _bounded(str(account.industry).strip(), 100, "account.industry")
    if account.employee_count is not None:
        if account.employee_count < 0:
            raise ValidationError("must not be negative", field="account.employee_count")
        values["employee_count"] = int(account.employee_count)
    if account.annual_revenue is not None:
        if account.annual_revenue < 0:
            raise ValidationError("must not be negative", field="account.annual_revenue")
        values["annual_revenue"] = float(account.annual_revenue)
    if _clean(account.country):
        values["country"] = _field(normalize_country, account.country, "account.country")
    return values


@dataclass(frozen=True)
class PreparedTouch:
    values: Mapping[str, Any]


TOUCH_TEXT_FIELDS: Mapping[str, int] = {
    "campaign": 255,
    "utm_source": 255,
    "utm_medium": 255,
    "utm_campaign": 255,
    "utm_term": 255,
    "utm_content": 255,
    "referrer": 2048,
    "landing_page": 2048,
    "idempotency_key": 128,
}


def prepare_touch(touch: TouchInput, *, now: datetime) -> PreparedTouch:
    channel = (touch.channel or "").strip().lower()
    if channel not in CHANNELS:
        raise ValidationError(
            f"{touch.channel!r} is not one of {', '.join(CHANNELS)}", field="channel"
        )
    values: dict[str, Any] = {"channel": channel, "occurred_at": touch.occurred_at or now}
    if values["occurred_at"].tzinfo is None:
        raise ValidationError("must carry a timezone", field="occurred_at")
    for name, width in _TOUCH_TEXT_WIDTHS:
        raw = getattr(touch, name)
        if raw is None:
            continue
        value = _clean(raw)
        if value is not None:
            values[name] = _bounded(value, width, name)
    return PreparedTouch(values=values)


_TOUCH_TEXT_WIDTHS = tuple(TOUCH_TEXT_FIELDS.items())


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = (value if type(value) is str else str(value)).strip()
    return text or None


def _present(*values: str | None) -> list[str]:
    return [text for value in values if (text := _clean(value)) is not None]


def _bounded(value: str, width: int, name: str) -> str:
    if len(value) > width:
        raise ValidationError(f"is longer than {width} characters", field=name)
    return value


def _field(fn: Any, raw: Any, name: str) -> Any:
    try:
        return fn(raw)
    except ValidationError as exc:
        raise ValidationError(exc.reason, field=name) from None


def _optional(fn: Any, raw: Any, name: str) -> Any:
    return None if _clean(raw) is None else _field(fn, raw, name)
