"""Pure tracking logic: page views as the snippet sends them, and the signed token an
identified email link carries.

The token is ``<contact id>.<expiry>.<signature>``: the expiry in whole seconds since the
Unix epoch, and an HMAC-SHA256 of both under a key derived from the workspace secret
(``LEADFLOW_SECRET_KEY``), cut to 16 bytes, base64url. It names one contact until it
expires, and cannot be forged, moved to another contact or given a later expiry without the
secret. A link forwarded or leaked therefore stops identifying its reader after a while
(``TOKEN_LIFETIME`` by default).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from leadflow.errors import Forbidden, ValidationError

ANONYMOUS_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
TOKEN = re.compile(r"([0-9]{1,18})\.([0-9]{1,12})\.([A-Za-z0-9_-]{22})")
# Long enough for a nurture email opened weeks later; short enough that a forwarded link
# does not identify its reader for good.
TOKEN_LIFETIME = timedelta(days=90)
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
MAX_URL = 2048
MAX_TITLE = 500
_PURPOSE = b"leadflow identify link v2"


class InvalidToken(Forbidden):
    """An identify token we did not sign (or not for this contact)."""

    code = "invalid_token"


@dataclass(frozen=True)
class PageView:
    anonymous_id: str
    url: str
    title: str | None
    referrer: str | None
    view_id: str  # the snippet's id for this page load: a retried beacon is stored once
    utm: Mapping[str, str]

    def properties(self, site: str) -> dict[str, Any]:
        props: dict[str, Any] = {"site": site, "url": self.url, "path": urlsplit(self.url).path}
        if self.title:
            props["title"] = self.title
        if self.referrer:
            props["referrer"] = self.referrer
        props.update(self.utm)
        return props


def read_page_view(data: Mapping[str, Any]) -> PageView:
    """A beacon's body: ``{anonymous_id, view_id, url, title?, referrer?}``."""
    url = _url(data.get("url"), "url", required=True)
    assert url is not None
    return PageView(
        anonymous_id=anonymous_id(data.get("anonymous_id")),
        url=url,
        title=_bounded(data.get("title"), MAX_TITLE, "title"),
        referrer=_url(data.get("referrer"), "referrer", required=False),
        view_id=anonymous_id(data.get("view_id"), field="view_id"),
        utm=utm_of(url),
    )


def utm_of(url: str) -> dict[str, str]:
    """The UTM parameters of a landing page's URL."""
    query = parse_qsl(urlsplit(url).query)
    return {k: v[:255] for k, v in query if k in UTM_KEYS and v.strip()}


def anonymous_id(value: Any, *, field: str = "anonymous_id") -> str:
    if not isinstance(value, str) or not ANONYMOUS_ID.fullmatch(value):
        raise ValidationError("expected 8 to 64 letters, digits, _ or -", field=field)
    return value


def _url(value: Any, field: str, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise ValidationError("is required", field=field)
        return None
    text = _bounded(value, MAX_URL, field)
    parts = urlsplit(text or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("expected an http(s) URL", field=field)
    return text


def _bounded(value: Any, width: int, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("expected text", field=field)
    text = value.strip()
    if len(text) > width:
        raise ValidationError(f"is longer than {width} characters", field=field)
    return text or None


# -- signed identify links --------------------------------------------------------------------


def identify_token(
    secret: str, contact_id: int, *, now: datetime, lifetime: timedelta = TOKEN_LIFETIME
) -> str:
    """The token an email link carries (``?lf_id=<token>``) to name its recipient until
    ``now + lifetime``."""
    if lifetime <= timedelta(0):
        raise ValidationError("must be a positive duration", field="lifetime")
    expires = int((now + lifetime).timestamp())
    return f"{contact_id}.{expires}.{_signature(secret, contact_id, expires)}"


def verify_token(secret: str, token: str, *, now: datetime) -> int:
    """The contact id a token names; :class:`InvalidToken` if we did not sign it or it has
    expired."""
    match = TOKEN.fullmatch(token.strip()) if isinstance(token, str) else None
    if match is None:
        raise InvalidToken("the link's identify token is not one of ours")
    contact_id, expires = int(match.group(1)), int(match.group(2))
    if not hmac.compare_digest(match.group(3), _signature(secret, contact_id, expires)):
        raise InvalidToken("the link's identify token has a bad signature")
    if now.timestamp() >= expires:
        raise InvalidToken("the link's identify token has expired")
    return contact_id


def _signature(secret: str, contact_id: int, expires: int) -> str:
    # A key of its own, derived from the workspace secret, so a signature made for this
    # purpose is never valid for another (webhooks, unsubscribe links).
    key = hmac.new(secret.encode("utf-8"), _PURPOSE, hashlib.sha256).digest()
    signed = f"{contact_id}.{expires}".encode("ascii")
    digest = hmac.new(key, signed, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
