"""``POST /events`` answered ahead of FastAPI's routing when everything about it is in order.

The single-event endpoint is the API's hot path: a website or a tracking pipeline posts one
event per request, thousands a second. Measured in-process, FastAPI's layers between the
middleware and the endpoint (exception middleware, exit stacks, matching the path among
some sixty routes, dependency solving, the request wrapper) cost as much as the endpoint's
own work. This middleware takes the request first and answers it itself only on the
success path: a declared body within the size limit, in a JSON media type as the app reads
them, a key already verified (cached) of a role that may post events and that sees every
contact, a body that validates, an event that is recorded. Anything else (no key, a bad
body, a sales key, a refusal while recording) is handed on to the app with the body
replayed, so every error is the app's own answer, problem+json and all; a refused event
was not stored, and the app records it again or refuses it again. The app's
``POST /events`` stays the documented operation and does the same thing.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError as PydanticValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadflow.access.engine import Principal
from leadflow.access.scope import restricted_to
from leadflow.api.deps import ANY_ROLE, key_from
from leadflow.api.events import EventIn, _input, _is_json, recorded_body

_JSON_HEADERS = [(b"content-type", b"application/json")]


class EventsFastPath:
    """ASGI middleware for ``app`` (a FastAPI app whose ``state`` has ``keys`` and
    ``events``); ``max_body_bytes`` as the app's ``BodyLimit``."""

    def __init__(self, app: ASGIApp, *, api: Any, max_body_bytes: int) -> None:
        self.app = app
        self._api = api
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/events" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(reversed(scope["headers"]))  # the first of a repeated header, as Starlette
        body = await self._body(headers, receive)
        if body is None:  # too large, or not all of it: the app refuses it as it streams
            await self.app(scope, receive, send)
            return
        content = await self._record(headers, body)
        if content is None:
            await self.app(scope, _replay(body, receive), send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": content})

    async def _body(self, headers: dict[bytes, bytes], receive: Receive) -> bytes | None:
        declared = headers.get(b"content-length")
        if declared is None or not declared.isdigit() or int(declared) > self._max_body_bytes:
            return None
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _record(self, headers: dict[bytes, bytes], body: bytes) -> bytes | None:
        """The answer's body, or None to hand the request to the app."""
        principal = self._principal(headers)
        if principal is None or restricted_to(principal) is not None:
            return None
        if not _is_json(headers.get(b"content-type", b"").decode("latin-1")):
            return None
        try:
            event = EventIn.model_validate_json(body)
        except PydanticValidationError:
            return None
        try:
            event_id = await self._api.state.events.record(_input(event))
        except Exception:  # refused: nothing stored; the app says why
            return None
        return recorded_body(event_id)

    def _principal(self, headers: dict[bytes, bytes]) -> Principal | None:
        authorization, api_key = headers.get(b"authorization"), headers.get(b"x-api-key")
        key = key_from(
            authorization.decode("latin-1") if authorization is not None else None,
            api_key.decode("latin-1") if api_key is not None else None,
        )
        principal: Principal | None = self._api.state.keys.cached(key) if key else None
        if principal is None or principal.role not in ANY_ROLE.allowed:
            return None
        return principal


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app: the body already read, then the connection's own messages."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
