"""POST notices to an HTTPS endpoint, signed so the receiver can check they came from leadflow.

The request::

    POST <url>
    Content-Type: application/json
    Idempotency-Key: <notice.idempotency_key>   the same on every retry: drop duplicates by it
    X-Leadflow-Timestamp: <unix seconds>        when this attempt was signed
    X-Leadflow-Signature: v1=<hex>              HMAC-SHA256(secret, "<timestamp>.<raw body>")

    {"kind": "handoff", "recipient": {"user_id": 7, "email": "..."}, "subject": "...",
     "body": "...", "data": {...}, "idempotency_key": "..."}

To verify (this is what :func:`verify_signature` does):

1. Keep the raw body bytes; parsing and re-serialising the JSON changes them.
2. Compute HMAC-SHA256 keyed with the shared secret (UTF-8) over the ``X-Leadflow-Timestamp``
   value, a ``.``, and the raw body; hex-encode it (lower case).
3. Compare it in constant time with each ``v1=`` value in ``X-Leadflow-Signature``
   (comma-separated; more than one may appear while a secret is being rotated).
4. Reject timestamps more than five minutes from your own clock, so a captured request
   cannot be replayed later.

Connection errors, 429 and 5xx are retried with a short exponential backoff; other answers
are final. Redirects are not followed: a redirect could carry the signed body elsewhere.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import NamedTuple

import httpx

from leadflow.channels.base import Channel, Delivery, Notice
from leadflow.clock import Clock, SystemClock
from leadflow.webhooks.engine import check_url, digest, matches

SIGNATURE_HEADER = "X-Leadflow-Signature"
TIMESTAMP_HEADER = "X-Leadflow-Timestamp"
SIGNATURE_VERSION = "v1"
_DETAIL_BODY_CHARS = 200


class _Attempt(NamedTuple):
    ok: bool
    detail: str
    retryable: bool


class WebhookChannel(Channel):
    """Sends each notice as one signed JSON POST; see the module docstring for the format.

    ``retries`` is the number of extra attempts after the first. ``clock`` gives the signing
    time and ``sleep`` waits between attempts (tests pass a frozen clock and a no-op sleep).
    A client passed in is used as is and not closed by :meth:`close`.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        client: httpx.Client | None = None,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.5,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not secret:
            raise ValueError("the webhook secret is empty")
        if retries < 0:
            raise ValueError(f"retries must be zero or more, not {retries}")
        self.url = check_url(url)
        self._secret = secret
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client()
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._sleep = sleep

    def send(self, notice: Notice) -> Delivery:
        body = encode_body(notice)
        attempts = 0
        while True:
            attempts += 1
            result = self._attempt(notice, body)
            if result.ok or not result.retryable or attempts > self._retries:
                return Delivery(result.ok, self.name, result.detail, attempts)
            self._sleep(self._backoff * 2 ** (attempts - 1))

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def _attempt(self, notice: Notice, body: bytes) -> _Attempt:
        # Signed per attempt, so a late retry still carries a fresh timestamp.
        timestamp = str(int(self._clock.now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": notice.idempotency_key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        try:
            response = self._client.post(
                self.url,
                content=body,
                headers=headers,
                timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.TransportError as exc:  # connect, timeout, network, protocol
            return _Attempt(False, _describe_error(exc), retryable=True)
        except httpx.RequestError as exc:  # the answer came but could not be read
            return _Attempt(False, _describe_error(exc), retryable=False)
        return _Attempt(response.is_success, _describe(response), _is_retryable(response))


def encode_body(notice: Notice) -> bytes:
    """The exact bytes posted (and signed) for ``notice``."""
    text = json.dumps(notice.to_json(), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Leadflow-Signature`` value for ``body`` sent at ``timestamp``."""
    return f"{SIGNATURE_VERSION}={digest(secret, timestamp, body)}"


def verify_signature(
    secret: str, timestamp: str, body: bytes, header: str, *, now: float, tolerance: float = 300
) -> bool:
    """Whether ``header`` signs ``body`` at ``timestamp`` with ``secret``, and ``timestamp``
    (unix seconds, as sent) is within ``tolerance`` seconds of ``now`` (unix seconds)."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > tolerance:
        return False
    return matches(sign(secret, timestamp, body), [part.strip() for part in header.split(",")])


def _is_retryable(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.is_server_error


def _describe(response: httpx.Response) -> str:
    detail = f"HTTP {response.status_code}"
    if response.is_success or not response.text:
        return detail
    return f"{detail}: {response.text[:_DETAIL_BODY_CHARS]}"


def _describe_error(exc: httpx.RequestError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
