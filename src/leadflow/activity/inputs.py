"""Values callers hand to the activity log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The activity types leadflow itself understands. Others are accepted as they are
# (lowercase snake_case), so a team can record what matters to it.
KNOWN_TYPES = (
    "page_view",
    "form_submit",
    "content_download",
    "webinar_registered",
    "webinar_attended",
    "email_sent",
    "email_delivered",
    "email_opened",
    "email_clicked",
    "email_replied",
    "email_bounced",
    "call",
    "meeting",
    "demo_requested",
    "trial_started",
    "pricing_page_view",
    "unsubscribe",
    "stage_changed",
    "deal_won",
    "deal_lost",
)


@dataclass(frozen=True)
class EventInput:
    """One event in a contact's timeline.

    The contact is named by ``contact_id`` or by an identity (email, phone, external id,
    anonymous visitor id); an identity nobody has yet creates a new contact.
    ``idempotency_key`` makes retries safe; without one, a key is derived from the content,
    so the very same event sent twice is still stored once.
    """

    type: str
    occurred_at: datetime | None = None
    contact_id: int | None = None
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    anonymous_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None
    idempotency_key: str | None = None
