"""Values callers hand to the contacts service: what a capture says about a person."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Stable lowercase codes: stored in touches.channel and used by reports and rules.
CHANNELS = (
    "web_form",
    "newsletter",
    "content_download",
    "webinar",
    "social",
    "email",
    "referral",
    "paid_ads",
    "partner",
    "outbound",
    "import",
    "api",
)

IDENTITY_KINDS = ("email", "phone", "external_id", "anonymous_id")


@dataclass(frozen=True)
class AccountInput:
    domain: str | None = None
    name: str | None = None
    industry: str | None = None
    employee_count: int | None = None
    annual_revenue: float | None = None
    country: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ContactInput:
    """What one capture knows about a person. Unset fields leave stored values alone."""

    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    anonymous_id: str | None = None
    other_emails: tuple[str, ...] = ()
    other_phones: tuple[str, ...] = ()
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    seniority: str | None = None
    company: str | None = None
    country: str | None = None
    timezone: str | None = None
    language: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    account: AccountInput | None = None


@dataclass(frozen=True)
class TouchInput:
    """How the person arrived: a channel, and where known the campaign and UTM parameters."""

    channel: str
    occurred_at: datetime | None = None
    campaign: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    referrer: str | None = None
    landing_page: str | None = None
    idempotency_key: str | None = None
