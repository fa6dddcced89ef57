"""The snippet, page views and the identified email click, over HTTP and below it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadflow.activity.models import activities
from leadflow.cli.app import app
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.models import contacts, identities
from leadflow.contacts.service import capture_contact
from leadflow.errors import ValidationError
from leadflow.tracking.engine import (
    TOKEN_LIFETIME,
    InvalidToken,
    identify_token,
    read_page_view,
    verify_token,
)
from tests.capture.files import ORIGIN, SITE_KEY

VISITOR = "visitor-abcdef0123"
SECRET = "test-secret-of-some-length-0123456789"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FROM_SITE = {"Origin": ORIGIN, "Content-Type": "text/plain"}


def beacon(public, path: str, body: dict[str, Any], headers: dict[str, str] = FROM_SITE):
    return public.post(path, content=json.dumps(body).encode(), headers=headers)


def view(n: int, url: str = f"{ORIGIN}/", **extra: Any) -> dict[str, Any]:
    return {
        "site": SITE_KEY,
        "anonymous_id": VISITOR,
        "view_id": f"view-{n:06d}",
        "url": url,
    } | extra


def views_of(db, contact_id: int) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(
            select(activities.c.properties)
            .where(activities.c.contact_id == contact_id, activities.c.type == "page_view")
            .order_by(activities.c.id)
        ).scalars()
        return list(rows)


def owner_of(db, visitor: str = VISITOR) -> int | None:
    with db.read() as conn:
        return conn.execute(
            select(identities.c.contact_id).where(identities.c.value == visitor)
        ).scalar_one_or_none()


def test_the_snippet_is_served_from_the_package(public):
    response = public.get("/t.js")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert "lf_anonymous_id" in response.text
    assert "data-site" in response.text


def test_page_views_are_recorded_under_the_anonymous_id_with_utm(public, db):
    first = beacon(public, "/t/pv", view(1, f"{ORIGIN}/?utm_source=ads&utm_campaign=fall"))
    beacon(public, "/t/pv", view(2, f"{ORIGIN}/pricing", title="Pricing"))
    retried = beacon(public, "/t/pv", view(2, f"{ORIGIN}/pricing", title="Pricing"))

    assert (first.status_code, retried.status_code) == (204, 204)
    assert first.headers["access-control-allow-origin"] == ORIGIN
    found = views_of(db, owner_of(db))
    assert [v["path"] for v in found] == ["/", "/pricing"]  # the retried beacon counted once
    assert (found[0]["utm_source"], found[0]["utm_campaign"]) == ("ads", "fall")
    assert found[1]["title"] == "Pricing"


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (view(1), {"Origin": "https://evil.example", "Content-Type": "text/plain"}, 403),
        (view(1) | {"site": "site_nobody_has"}, FROM_SITE, 404),
        (view(1), {"Origin": ORIGIN, "Content-Type": "application/xml"}, 415),
        (view(1, title="t" * 5000), FROM_SITE, 413),
        (view(1) | {"anonymous_id": "bad id!"}, FROM_SITE, 422),
        (view(1, url="javascript:alert(1)"), FROM_SITE, 422),
    ],
)
def test_bad_beacons_are_refused_and_store_nothing(public, db, body, headers, status):
    response = beacon(public, "/t/pv", body, headers)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    with db.read() as conn:
        assert conn.execute(select(contacts.c.id)).first() is None


def test_identify_tokens_are_signed_per_contact():
    token = identify_token(SECRET, 42, now=NOW)

    assert verify_token(SECRET, token, now=NOW) == 42
    forged = token.replace("42.", "43.", 1)
    other = identify_token("another-secret", 42, now=NOW)
    for bad in (forged, other, "42", "", "42.abc", token.rsplit(".", 1)[0] + ".abc"):
        with pytest.raises(InvalidToken):
            verify_token(SECRET, bad, now=NOW)


def test_identify_tokens_expire_and_their_expiry_cannot_be_moved():
    token = identify_token(SECRET, 42, now=NOW, lifetime=timedelta(days=7))
    contact, expires, signature = token.split(".")

    assert int(expires) == int((NOW + timedelta(days=7)).timestamp())
    assert verify_token(SECRET, token, now=NOW + timedelta(days=7, seconds=-1)) == 42
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(SECRET, token, now=NOW + timedelta(days=7))
    later = f"{contact}.{int(expires) + 86_400}.{signature}"
    with pytest.raises(InvalidToken, match="signature"):
        verify_token(SECRET, later, now=NOW)
    default = identify_token(SECRET, 42, now=NOW)
    assert int(default.split(".")[1]) == int((NOW + TOKEN_LIFETIME).timestamp())
    with pytest.raises(ValidationError):
        identify_token(SECRET, 42, now=NOW, lifetime=timedelta(0))


def test_an_email_click_stitches_the_visitors_history_into_the_contact(public, db, workspace):
    beacon(public, "/t/pv", view(1))
    beacon(public, "/t/pv", view(2, f"{ORIGIN}/blog"))
    known = capture_contact(db, workspace.clock, ContactInput(email="ada@example.com"))
    token = identify_token(
        workspace.settings.secret_key, known.contact_id, now=workspace.clock.now()
    )

    response = beacon(
        public, "/t/identify", {"site": SITE_KEY, "anonymous_id": VISITOR, "token": token}
    )

    assert response.status_code == 204
    assert owner_of(db) == known.contact_id
    assert [v["path"] for v in views_of(db, known.contact_id)] == ["/", "/blog"]
    beacon(public, "/t/pv", view(3, f"{ORIGIN}/docs"))
    assert len(views_of(db, known.contact_id)) == 3


def test_an_email_click_from_a_new_browser_adds_its_id(public, db, workspace):
    known = capture_contact(db, workspace.clock, ContactInput(email="ada@example.com"))
    token = identify_token(
        workspace.settings.secret_key, known.contact_id, now=workspace.clock.now()
    )

    beacon(public, "/t/identify", {"site": SITE_KEY, "anonymous_id": VISITOR, "token": token})

    assert owner_of(db) == known.contact_id


def test_a_bad_token_is_refused_and_stitches_nothing(public, db, workspace):
    beacon(public, "/t/pv", view(1))
    visitor_contact = owner_of(db)
    known = capture_contact(db, workspace.clock, ContactInput(email="ada@example.com"))
    forged = identify_token("not-the-workspace-secret", known.contact_id, now=workspace.clock.now())

    response = beacon(
        public, "/t/identify", {"site": SITE_KEY, "anonymous_id": VISITOR, "token": forged}
    )

    assert response.status_code == 403
    assert response.json()["code"] == "invalid_token"
    assert owner_of(db) == visitor_contact


def test_an_expired_email_link_is_refused_and_stitches_nothing(public, db, workspace):
    beacon(public, "/t/pv", view(1))
    visitor_contact = owner_of(db)
    known = capture_contact(db, workspace.clock, ContactInput(email="ada@example.com"))
    sent = workspace.clock.now() - timedelta(days=91)  # a link from an old campaign
    token = identify_token(workspace.settings.secret_key, known.contact_id, now=sent)

    response = beacon(
        public, "/t/identify", {"site": SITE_KEY, "anonymous_id": VISITOR, "token": token}
    )

    assert response.status_code == 403
    assert response.json()["code"] == "invalid_token"
    assert "expired" in response.json()["detail"]
    assert owner_of(db) == visitor_contact


def test_a_page_view_needs_a_url():
    with pytest.raises(ValidationError) as caught:
        read_page_view({"anonymous_id": VISITOR, "view_id": "view-000001"})

    assert caught.value.field == "url"


def test_tracking_link_signs_the_contacts_token_into_the_url(workspace, db, cli_env):
    known = capture_contact(db, workspace.clock, ContactInput(email="ada@example.com"))

    result = CliRunner().invoke(
        app, ["tracking", "link", "ada@example.com", f"{ORIGIN}/offer?x=1&lf_id=old"], env=cli_env
    )

    assert result.exit_code == 0, result.output
    url = urlsplit(result.output.strip())
    query = dict(parse_qsl(url.query))
    assert query["x"] == "1"
    now = datetime.now(UTC)
    secret = workspace.settings.secret_key
    assert verify_token(secret, query["lf_id"], now=now) == known.contact_id
    with pytest.raises(InvalidToken):
        verify_token(secret, query["lf_id"], now=now + timedelta(days=91))
    refused = CliRunner().invoke(
        app, ["tracking", "link", "ada@example.com", "ftp://x"], env=cli_env
    )
    assert refused.exit_code == 1
    assert "url: expected an http(s) URL" in refused.output


def test_tracking_link_lasts_as_long_as_asked(workspace, db, cli_env):
    known = capture_contact(db, workspace.clock, ContactInput(email="ada@example.com"))
    link = ["tracking", "link", "ada@example.com", f"{ORIGIN}/offer"]

    result = CliRunner().invoke(app, [*link, "--valid-for", "2d"], env=cli_env)

    assert result.exit_code == 0, result.output
    token = dict(parse_qsl(urlsplit(result.output.strip()).query))["lf_id"]
    now = datetime.now(UTC)
    secret = workspace.settings.secret_key
    assert verify_token(secret, token, now=now + timedelta(days=1)) == known.contact_id
    with pytest.raises(InvalidToken):
        verify_token(secret, token, now=now + timedelta(days=2, minutes=1))
    refused = CliRunner().invoke(app, [*link, "--valid-for", "soon"], env=cli_env)
    assert refused.exit_code == 1
    assert "valid-for:" in refused.output
