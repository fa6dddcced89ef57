"""Outbound webhooks, the pure part: topics, the request a delivery sends, its signature, the
check a receiver makes, and when a failed delivery is tried again.

The signature header (Stripe's scheme, our names)::

    Leadflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

Several ``v1=`` values may appear while a secret is being rotated; one matching is enough.
A receiver refuses a timestamp more than :data:`DEFAULT_TOLERANCE` seconds from its own
clock, so a captured request cannot be replayed later.

Retries back off exponentially with jitter, from :data:`FIRST_RETRY` up to
:data:`LONGEST_WAIT` between attempts, for :data:`RETRY_WINDOW` (72 hours): the last
attempt is made at the end of the window, and a delivery that fails it is dead.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from leadflow.errors import ValidationError

CONTACT_CREATED = "contact.created"
STAGE_CHANGED = "stage.changed"
SCORE_GRADE_CHANGED = "score.grade_changed"
SCORE_THRESHOLD_CROSSED = "score.threshold_crossed"
PROSPECT_ASSIGNED = "prospect.assigned"
DEAL_WON = "deal.won"
DEAL_LOST = "deal.lost"
TOPICS = (
    CONTACT_CREATED,
    STAGE_CHANGED,
    SCORE_GRADE_CHANGED,
    SCORE_THRESHOLD_CROSSED,
    PROSPECT_ASSIGNED,
    DEAL_WON,
    DEAL_LOST,
)

SIGNATURE_HEADER = "Leadflow-Signature"
EVENT_HEADER = "Leadflow-Event"
TOPIC_HEADER = "Leadflow-Topic"
DELIVERY_HEADER = "Leadflow-Delivery"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE = 300  # seconds

FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=6)
RETRY_WINDOW = timedelta(hours=72)
LOOPBACK_NAMES = frozenset({"localhost"})
SLUG = re.compile(r"[a-z][a-z0-9_-]{0,99}")  # a subscription's name
MIN_SECRET = 16


class SignatureError(ValidationError):
    """A webhook request whose signature does not hold; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, field=SIGNATURE_HEADER)
        self.code = code


# -- signing ----------------------------------------------------------------------------


def digest(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 keyed with ``secret`` over ``"<timestamp>.<body>"``: the one signing
    implementation (notices in :mod:`leadflow.channels.webhook` use it too)."""
    message = timestamp.encode("utf-8") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def matches(expected: str, candidates: list[str]) -> bool:
    """Whether any candidate equals ``expected``, each compared in constant time."""
    want = expected.encode("ascii")
    # Bytes on both sides: compare_digest refuses non-ASCII str, and headers are untrusted.
    return any(hmac.compare_digest(want, c.encode("utf-8", "replace")) for c in candidates)


def signature_header(secret: str, body: bytes, *, timestamp: int) -> str:
    """The ``Leadflow-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},{SIGNATURE_VERSION}={digest(secret, str(timestamp), body)}"


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> int:
    """Check a received request: ``body`` is the raw bytes, ``header`` the
    ``Leadflow-Signature`` value, ``now`` the receiver's unix time. Returns the signed
    timestamp; raises :class:`SignatureError` for a missing or malformed header, a
    signature that does not match (wrong secret, changed body or timestamp), or a
    timestamp outside ``tolerance`` seconds (a replay)."""
    timestamp, signatures = _parse(header)
    if not matches(digest(secret, str(timestamp), body), signatures):
        raise SignatureError("signature_mismatch", "the signature does not match the body")
    if abs(now - timestamp) > tolerance:
        raise SignatureError(
            "signature_expired",
            f"the signature's timestamp is {int(abs(now - timestamp))} s from now "
            f"(at most {int(tolerance)} s): a replayed or delayed request",
        )
    return timestamp


def _parse(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise SignatureError("signature_missing", f"no {SIGNATURE_HEADER} header")
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == SIGNATURE_VERSION:
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not signatures:
        raise SignatureError(
            "signature_malformed", f"{SIGNATURE_HEADER} must read t=<unix seconds>,v1=<hex>"
        )
    return int(timestamps[0]), signatures


# -- the request ------------------------------------------------------------------------


def encode_body(event_id: int, topic: str, created_at: datetime, data: Mapping[str, Any]) -> bytes:
    """The exact bytes posted (and signed) for an event: the same on every attempt."""
    envelope = {"id": event_id, "topic": topic, "created_at": created_at.isoformat(), "data": data}
    text = json.dumps(envelope, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def request_headers(
    secret: str, body: bytes, *, timestamp: int, event_id: int, topic: str, delivery_id: int
) -> dict[str, str]:
    """Headers of one attempt; signed per attempt, so a late retry carries a fresh time."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "leadflow-webhooks",
        SIGNATURE_HEADER: signature_header(secret, body, timestamp=timestamp),
        EVENT_HEADER: str(event_id),
        TOPIC_HEADER: topic,
        DELIVERY_HEADER: str(delivery_id),
    }


def check_url(url: str) -> str:
    """``url`` normalised; https, or plain http to loopback only (payloads name contacts).
    Raises ValueError saying why not."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"webhook URL {url!r} is not valid: {exc}") from exc
    if parsed.scheme == "https" and parsed.host:
        return str(parsed)
    if parsed.scheme == "http" and _is_loopback(parsed.host):
        return str(parsed)
    raise ValueError(
        f"webhook URL {url!r} must use https; plain http is allowed only for loopback "
        "(127.0.0.1, ::1, localhost) because what is posted names contacts"
    )


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_topics(topics: object) -> tuple[str, ...]:
    """Known topic names, each once, in the order given; raises ValueError naming the
    first unknown one."""
    if not isinstance(topics, list | tuple) or not topics:
        raise ValueError(f"topics must be a non-empty list of: {', '.join(TOPICS)}")
    for topic in topics:
        if topic not in TOPICS:
            raise ValueError(f"unknown topic {topic!r}; known: {', '.join(TOPICS)}")
    return tuple(dict.fromkeys(topics))


# -- retries ----------------------------------------------------------------------------


def retry_delay(attempts: int, jitter: float) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: doubling from FIRST_RETRY, at most
    LONGEST_WAIT, of which a random half (``jitter`` in [0, 1)) is taken off so that
    deliveries failed together do not all come back together ("equal jitter")."""
    exponent = min(max(attempts - 1, 0), 30)  # 2**30 * 30 s is past any cap
    full = min(FIRST_RETRY * (1 << exponent), LONGEST_WAIT)
    return full / 2 + full / 2 * min(max(jitter, 0.0), 1.0)


def next_attempt(
    attempts: int, *, now: datetime, retry_until: datetime, jitter: float
) -> datetime | None:
    """When to try again after ``attempts`` failed ones, or None when the window is over
    (the delivery is dead). The last attempt is made at ``retry_until``."""
    if now >= retry_until:
        return None
    return min(now + retry_delay(attempts, jitter), retry_until)


# -- payloads -----------------------------------------------------------------------------
# Ids, codes, numbers and times only: no personal data and no free text written about a
# person, so erasing a contact need not chase copies through the outbox and the receivers
# (they read the person through the API). See docs/decisions/0016-webhooks.md.


def contact_created(contact_id: int, at: datetime) -> dict[str, Any]:
    return {"contact_id": contact_id, "created_at": at.isoformat()}


def stage_changed(transition: Mapping[str, Any]) -> dict[str, Any]:
    """From a ``stage_transitions`` row."""
    return {
        "contact_id": transition["contact_id"],
        "from_stage": transition["from_stage"],
        "to_stage": transition["to_stage"],
        "at": transition["at"].isoformat(),
        "cause": transition["cause"],
        "rule": transition["rule"],
        "by": transition["by_user"],
    }


def score_changed(history: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The topic and payload of a ``score_history`` row (a grade change or a threshold
    crossed, upwards or downwards)."""
    payload = {
        "contact_id": history["contact_id"],
        "before": history["before"],
        "after": history["after"],
        "total": history["total"],
        "at": history["at"].isoformat(),
        "cause": history["cause"],
        "model_version": history["model_version"],
    }
    if history["kind"] == "threshold":
        return SCORE_THRESHOLD_CROSSED, {"threshold": history["name"], **payload}
    return SCORE_GRADE_CHANGED, payload


def prospect_assigned(
    contact_id: int,
    owner_id: str,
    *,
    team: str | None,
    rule: str | None,
    task_id: int,
    due_at: datetime,
    at: datetime,
) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "owner_id": owner_id,
        "team": team,
        "rule": rule,
        "task_id": task_id,
        "first_touch_due_at": due_at.isoformat(),
        "at": at.isoformat(),
    }


def deal_closed(
    deal_id: int,
    contact_id: int,
    *,
    owner_id: str | None,
    amount: Decimal | None,
    currency: str,
    closed_at: datetime,
) -> dict[str, Any]:
    # The amount as text, as written: a float would round it.
    return {
        "deal_id": deal_id,
        "contact_id": contact_id,
        "owner_id": owner_id,
        "amount": None if amount is None else str(amount),
        "currency": currency,
        "closed_at": closed_at.isoformat(),
    }
