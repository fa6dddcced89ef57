"""The tracking snippet and what it sends.

- ``GET /t.js``: the snippet (``leadflow/tracking/snippet.js``), cacheable for an hour.
- ``POST /t/pv``: a page view under the visitor's anonymous id (sendBeacon posts it as
  ``text/plain`` JSON, which needs no CORS preflight).
- ``POST /t/identify``: an identified email click: a signed token from the link, with the
  visitor's anonymous id; that visitor's history is stitched into the token's contact.

Both posts need only the site's public key (``site`` in the body), come from the site's
origins (403 otherwise), are rate limited per IP (429) and small (4 KiB; 413).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from leadflow.api.capture import (
    Public,
    PublicDep,
    client_ip,
    content_kind,
    cors_headers,
    parse_values,
    problem_for,
    read_body,
)
from leadflow.capture.config import Site
from leadflow.capture.guard import check_origin, request_origin
from leadflow.errors import Forbidden, LeadflowError, NotFound, ValidationError
from leadflow.tracking.engine import read_page_view
from leadflow.tracking.service import identify, record_page_view, snippet

router = APIRouter(tags=["tracking"])

BEACON_TYPES = ("text/plain", "application/json")
MAX_BEACON = 4096
Text = Annotated[str, Field(max_length=2048)]


class PageViewIn(BaseModel):
    """What the snippet sends per page (documentation: the body is read by hand, so
    sendBeacon's text/plain works too)."""

    site: Text
    anonymous_id: Text
    view_id: Text
    url: Text
    title: Text | None = None
    referrer: Text | None = None


class IdentifyIn(BaseModel):
    site: Text
    anonymous_id: Text
    token: Text


def _doc(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {"requestBody": {"content": {t: {"schema": schema} for t in BEACON_TYPES}}}


@router.get("/t.js", include_in_schema=False)
def tracking_snippet() -> Response:
    return Response(
        snippet(),
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.options("/t/pv", include_in_schema=False)
@router.options("/t/identify", include_in_schema=False)
async def beacon_preflight(request: Request) -> Response:
    """CORS preflight for a fetch with a JSON content type. The site key is in the body,
    which a preflight lacks, so any site's origin is answered; the post itself is checked."""
    origin = request_origin(request.headers.get("origin"), None)
    if origin is None:
        raise Forbidden("a preflight names its Origin")
    return Response(status_code=204, headers=cors_headers(origin, preflight=True))


@router.post("/t/pv", status_code=204, openapi_extra=_doc(PageViewIn))
async def page_view(request: Request, public: PublicDep) -> Response:
    """Record a page view under the visitor's anonymous id."""
    return await _beacon(request, public, _record_view)


@router.post("/t/identify", status_code=204, openapi_extra=_doc(IdentifyIn))
async def identify_click(request: Request, public: PublicDep) -> Response:
    """Stitch the visitor's history into the contact a signed email link names."""
    return await _beacon(request, public, _identify)


Handler = Callable[[Public, Site, dict[str, Any]], None]


async def _beacon(request: Request, public: Public, handle: Handler) -> Response:
    origin = request_origin(request.headers.get("origin"), request.headers.get("referer"))
    try:
        content_kind(request.headers.get("content-type"), BEACON_TYPES)
        # Both types carry JSON: sendBeacon can only say text/plain without a preflight.
        data = parse_values("application/json", await read_body(request, MAX_BEACON))
        site = _site(public, data.get("site"))
        origin = check_origin(origin, site.origins, f"site {site.name!r}")
        public.limiter.hit(
            site.limits.per_ip, "site", site.key, "ip", client_ip(request), what="from this address"
        )
        await run_in_threadpool(handle, public, site, data)
    except LeadflowError as exc:
        if origin is None:
            raise
        return problem_for(exc, origin)
    return Response(status_code=204, headers=cors_headers(origin))


def _site(public: Public, key: Any) -> Site:
    if not isinstance(key, str):
        raise ValidationError("name the site's public key", field="site")
    site = public.forms.current().site(key)
    if site is None:
        raise NotFound("no site with this key")
    return site


def _record_view(public: Public, site: Site, data: dict[str, Any]) -> None:
    ws = public.workspace
    record_page_view(ws.db, ws.clock, site, read_page_view(data))


def _identify(public: Public, _site: Site, data: dict[str, Any]) -> None:
    ws = public.workspace
    token, visitor = data.get("token"), data.get("anonymous_id")
    for name, value in (("token", token), ("anonymous_id", visitor)):
        if not isinstance(value, str):
            raise ValidationError("is required (text)", field=name)
    identify(ws.db, ws.clock, secret=ws.settings.secret_key, token=str(token), visitor=str(visitor))
