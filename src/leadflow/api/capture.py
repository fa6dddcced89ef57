"""``POST /f/{form_key}``: the public form endpoint a website posts to directly.

It needs only the form's public key and can do only what a form may do: capture the person
it names, with their answers and consent. An HTML form post (urlencoded) is answered with a
303 redirect to the form's ``redirect`` page, a JSON post with JSON. Checked in this order,
each refusing with problem+json and storing nothing: the form exists (404), the post comes
from one of its origins (403; CORS answers only those), the rate limits per IP and per form
(429 with Retry-After), the content type (415), the body size (413), the fields (422). A
browser's own form post (urlencoded, HTML accepted) is refused with a short HTML page
instead, with the same status, saying what to fix and linking back to the form.
``Idempotency-Key`` is honoured (:mod:`leadflow.access.idempotency`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from leadflow.access.idempotency import HEADER, Idempotency, StoredResponse, request_hash
from leadflow.api import errors
from leadflow.capture.config import Form
from leadflow.capture.guard import (
    FormsFile,
    RateLimiter,
    RateLimitExceeded,
    check_origin,
    request_origin,
)
from leadflow.capture.service import capture_submission, prepare_submission
from leadflow.errors import (
    LeadflowError,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationError,
)
from leadflow.workspace import Workspace

router = APIRouter(tags=["capture"])

FORM_TYPES = ("application/x-www-form-urlencoded", "application/json")
MAX_FIELDS = 200
ACCEPTED = b'{"status":"accepted"}'
THANKS = "<!doctype html><meta charset=utf-8><title>Thank you</title><p>Thank you, {name}.</p>"


@dataclass
class Public:
    """What the public endpoints share within one app: the forms file, the limiter and the
    idempotency store (it paces its purge per process)."""

    workspace: Workspace
    forms: FormsFile
    limiter: RateLimiter
    idempotency: Idempotency


async def public_state(request: Request) -> Public:
    # Made on first use and kept on the app (async, so two first requests cannot race).
    state = request.app.state
    found: Public | None = getattr(state, "public", None)
    if found is None:
        ws: Workspace = state.workspace
        limiter = RateLimiter(ws.settings.rate_limit_storage)
        found = Public(ws, FormsFile(ws.root), limiter, Idempotency(ws.db, ws.clock))
        state.public = found
    return found


PublicDep = Annotated[Public, Depends(public_state)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description="Retrying with the same key and body gives the first response again.",
    ),
]
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "description": "The form's fields, flat: as an HTML form posts them, or as JSON.",
        "content": {
            t: {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}
            for t in FORM_TYPES
        },
    }
}


@router.options("/f/{form_key}", include_in_schema=False)
async def form_preflight(form_key: str, request: Request, public: PublicDep) -> Response:
    """CORS preflight: answered for the form's own origins only."""
    form = _form(public, form_key)
    origin = request_origin(request.headers.get("origin"), None)
    origin = check_origin(origin, form.origins, f"form {form.name!r}")
    return Response(status_code=204, headers=cors_headers(origin, preflight=True))


@router.post(
    "/f/{form_key}",
    status_code=201,
    openapi_extra=_BODY_DOC,
    responses={201: {"description": "Accepted (JSON)"}, 303: {"description": "Accepted (HTML)"}},
)
async def submit(
    form_key: str, request: Request, public: PublicDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Submit a form: the person, their answers and consent, stitched to their visits."""
    form = _form(public, form_key)
    origin = check_origin(
        request_origin(request.headers.get("origin"), request.headers.get("referer")),
        form.origins,
        f"form {form.name!r}",
    )
    try:
        _count(public.limiter, form, client_ip(request))
        kind = content_kind(request.headers.get("content-type"), FORM_TYPES)
        body = await read_body(request, form.max_body)
        values = parse_values(kind, body)
        stored = await run_in_threadpool(
            _capture, public, form, values, kind, idempotency_key, _hash(request, body)
        )
    except LeadflowError as exc:
        if _from_a_page(request):
            return problem_page(exc, origin, request.headers.get("referer"))
        return problem_for(exc, origin)
    return stored_response(stored, origin)


def _from_a_page(request: Request) -> bool:
    """A browser posting the form itself (not a script): urlencoded, and HTML accepted."""
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    return kind == FORM_TYPES[0] and "text/html" in request.headers.get("accept", "")


_TITLES = {422: "Please check the form", 429: "Too many submissions", 413: "Too much to send"}
SORRY = (
    "<!doctype html><meta charset=utf-8><title>{title}</title>"
    "<h1>{title}</h1><p>{message}</p>{back}"
)


def _form(public: Public, key: str) -> Form:
    form = public.forms.current().form(key)
    if form is None:
        raise NotFound("no form with this key")
    return form


def _count(limiter: RateLimiter, form: Form, ip: str) -> None:
    limiter.hit(form.limits.per_ip, "form", form.key, "ip", ip, what="from this address")
    if form.limits.per_form is not None:
        limiter.hit(form.limits.per_form, "form", form.key, what=f"to form {form.name!r}")


def _capture(
    public: Public,
    form: Form,
    values: Mapping[str, Any],
    kind: str,
    key: str | None,
    request: str,
) -> StoredResponse:
    ws = public.workspace
    now = ws.clock.now()
    checked = prepare_submission(form, values, now)  # before any transaction: bad input
    answer = _answer(form, kind)

    def work(conn: Any) -> StoredResponse:
        if checked is not None:  # None: a filled honeypot, answered alike, stored nowhere
            capture_submission(conn, *checked, now=now)
        return answer

    if key is None:
        with ws.db.write() as conn:
            return work(conn)
    return public.idempotency.run(scope=f"form:{form.key}", key=key, request=request, work=work)


def _answer(form: Form, kind: str) -> StoredResponse:
    if kind == "application/json":
        return StoredResponse(201, "application/json", ACCEPTED)
    if form.redirect:
        return StoredResponse(303, "text/html", form.redirect.encode("utf-8"))
    page = THANKS.format(name=escape(form.name))
    return StoredResponse(200, "text/html; charset=utf-8", page.encode("utf-8"))


def _hash(request: Request, body: bytes) -> str:
    content_type = request.headers.get("content-type", "")
    return request_hash(request.method, request.url.path, content_type, body)


# -- shared with the tracking endpoints ------------------------------------------------------


def client_ip(request: Request) -> str:
    # Behind a proxy, run uvicorn with --proxy-headers so this is the visitor's address.
    return request.client.host if request.client else "unknown"


def content_kind(header: str | None, allowed: tuple[str, ...]) -> str:
    kind = (header or "").split(";")[0].strip().lower()
    if kind not in allowed:
        raise UnsupportedMediaType(
            f"send the body as {' or '.join(allowed)}, not {kind or 'no content type'}"
        )
    return kind


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it grows past ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    too_large = PayloadTooLarge(f"the body is larger than this endpoint accepts ({limit} bytes)")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_values(kind: str, body: bytes) -> dict[str, Any]:
    """Flat fields from an urlencoded or JSON body (JSON: an object of plain values)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("is not UTF-8 text", field="body") from None
    if kind == "application/x-www-form-urlencoded":
        try:
            parsed = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except ValueError:
            raise ValidationError(f"more than {MAX_FIELDS} fields", field="body") from None
        return {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"is not valid JSON: {exc}", field="body") from None
    if not isinstance(data, dict) or len(data) > MAX_FIELDS:
        message = f"expected a JSON object of at most {MAX_FIELDS} fields"
        raise ValidationError(message, field="body")
    return data


def cors_headers(origin: str, *, preflight: bool = False) -> dict[str, str]:
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "POST"
        headers["Access-Control-Allow-Headers"] = f"Content-Type, {HEADER}"
        headers["Access-Control-Max-Age"] = "600"
    return headers


def problem_for(exc: LeadflowError, origin: str) -> Response:
    """problem+json, readable by the page that posted (CORS), with Retry-After on a 429."""
    headers = cors_headers(origin)
    if isinstance(exc, RateLimitExceeded):
        headers["Retry-After"] = str(exc.retry_after)
    status = errors.status_for(exc)
    if status == 500:
        raise exc
    field = getattr(exc, "field", None)
    found = [{"loc": [field], "msg": exc.message, "type": exc.code}] if field else None
    return errors.problem(status, exc.code, exc.message, errors=found, headers=headers)


def problem_page(exc: LeadflowError, origin: str, referer: str | None) -> Response:
    """The refusal as a page for a person: the problem (the field first), and a link back
    to the page that posted when it is on the form's own origin."""
    response = problem_for(exc, origin)
    field = getattr(exc, "field", None)
    message = f"{field}: {exc.message}" if field else exc.message
    back = ""
    if referer and request_origin(None, referer) == origin:
        back = f'<p><a href="{escape(referer)}">Back to the form</a></p>'
    title = _TITLES.get(response.status_code, "The form could not be sent")
    page = SORRY.format(title=escape(title), message=escape(message), back=back)
    headers = {k: v for k, v in response.headers.items() if k.lower() not in _BODY_HEADERS}
    return Response(page, status_code=response.status_code, media_type="text/html", headers=headers)


_BODY_HEADERS = {"content-type", "content-length"}


def stored_response(stored: StoredResponse, origin: str) -> Response:
    headers = cors_headers(origin)
    if stored.replayed:
        headers["Idempotent-Replayed"] = "true"
    if 300 <= stored.status_code < 400:
        headers["Location"] = stored.body.decode("utf-8")
        return Response(status_code=stored.status_code, headers=headers)
    return Response(
        stored.body,
        status_code=stored.status_code,
        media_type=stored.content_type,
        headers=headers,
    )
