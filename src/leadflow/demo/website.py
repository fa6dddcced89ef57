"""The demo's website visit, through the real service: one visitor browses three pages
(the tracking beacon), fills in the demo-request form with the newsletter box ticked (the
public form endpoint), and is then read back through the REST API with an admin key.

It runs the FastAPI app in this process over httpx's ASGI transport: the same routes,
checks and transactions as ``leadflow serve``, without opening a port. The demo workspace
gets a ``forms.yaml`` with a site and a form of its own (random public keys) and keeps the
admin key, so that ``leadflow serve`` and ``curl`` can carry on from where the demo stops.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from leadflow.access.service import create_key
from leadflow.capture.config import FORMS_FILE
from leadflow.workspace import Workspace

SITE = "https://www.example.com"
PAGES = (
    f"{SITE}/?utm_source=linkedin&utm_medium=paid_social&utm_campaign=demo-launch",
    f"{SITE}/product",
    f"{SITE}/pricing",
)
FORMS_YAML = """\
# Written by `leadflow demo`: the demo website's tracked site and its demo-request form.
sites:
  www:
    key: {site_key}
    origins: [{site}]
forms:
  demo-request:
    key: {form_key}
    origins: [{site}]
    fields:
      email: contact.email
      first_name: contact.first_name
      last_name: contact.last_name
      company: account.name
      timeline: qualification.timing
    required: [email]
    consent:
      field: newsletter
      text: "Send me the monthly product newsletter. I can unsubscribe at any time."
      purpose: newsletter
    honeypot: website
    campaign: demo-launch
"""


@dataclass(frozen=True)
class WebsiteTour:
    api_key: str  # the admin key made for the demo, shown once
    visitor: str
    page_views: int  # sent by the beacon before the form
    contact_id: int
    email: str
    stitched: int  # page views on the contact after the form
    consent: bool
    stage: str | None
    grade: str
    total: float
    touch_campaigns: tuple[str, ...]  # each touch's UTM campaign (or campaign, or channel)


def tour_website(workspace: Workspace) -> WebsiteTour:
    """Visit, fill in the form, read back; raise if the service answers otherwise."""
    site_key = "site_" + secrets.token_urlsafe(12)
    form_key = "form_" + secrets.token_urlsafe(12)
    text = FORMS_YAML.format(site_key=site_key, form_key=form_key, site=SITE)
    (workspace.root / FORMS_FILE).write_text(text)
    key = create_key(workspace.db, workspace.clock, name="demo admin", role="admin").plaintext
    return asyncio.run(_visit(workspace, key, site_key, form_key))


async def _visit(workspace: Workspace, key: str, site_key: str, form_key: str) -> WebsiteTour:
    from leadflow.api.app import create_app  # the web stack, only when the tour runs

    visitor = "v" + secrets.token_hex(8)
    transport = httpx.ASGITransport(app=create_app(workspace))
    async with httpx.AsyncClient(transport=transport, base_url="http://leadflow.local") as web:
        for n, url in enumerate(PAGES):
            view = {"site": site_key, "anonymous_id": visitor, "view_id": f"{visitor}-{n}"}
            await _ok(web.post("/t/pv", json={**view, "url": url}, headers=_origin()))
        email = f"dana.{visitor}@northwind.example"
        form = {
            "email": email,
            "first_name": "Dana",
            "last_name": "Reyes",
            "company": "Northwind",
            "timeline": "this_quarter",
            "newsletter": "yes",
            "lf_anonymous_id": visitor,
            "lf_landing_page": PAGES[0],
        }
        await _ok(web.post(f"/f/{form_key}", json=form, headers=_origin()))
        api = {"X-API-Key": key}
        contact = (await _ok(web.get(f"/contacts/{email}", headers=api))).json()
        ref = contact["id"]
        score = (await _ok(web.get(f"/contacts/{ref}/score", headers=api))).json()
        timeline = await _ok(web.get(f"/contacts/{ref}/activity?limit=50", headers=api))
    return _tour(key, visitor, contact, score, timeline.json()["items"])


def _origin() -> dict[str, str]:
    return {"Origin": SITE}


async def _ok(pending: Any) -> httpx.Response:
    response: httpx.Response = await pending
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.url.path}: {response.status_code} {response.text}")
    return response


def _tour(
    key: str,
    visitor: str,
    contact: dict[str, Any],
    score: dict[str, Any],
    items: list[dict[str, Any]],
) -> WebsiteTour:
    types = [item["type"] for item in items]
    touches = contact["touches"]
    return WebsiteTour(
        api_key=key,
        visitor=visitor,
        page_views=len(PAGES),
        contact_id=int(contact["id"]),
        email=str(contact["email"]),
        stitched=types.count("page_view"),
        consent="consent_given" in types,
        stage=contact["stage"],
        grade=str(score["grade"]),
        total=float(score["total"]),
        touch_campaigns=tuple(t["utm_campaign"] or t["campaign"] or t["channel"] for t in touches),
    )
