"""POST /f/{form_key} over HTTP: answers, origins, CORS, limits, sizes, idempotency."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from leadflow.activity.models import activities
from leadflow.contacts.models import contacts, touches
from tests.capture.files import FORM_KEY, ORIGIN
from tests.capture.test_service import answers

URL = f"/f/{FORM_KEY}"
FROM_SITE = {"Origin": ORIGIN}


def stored(db) -> tuple[int, int]:
    with db.read() as conn:
        people = conn.execute(select(func.count()).select_from(contacts)).scalar_one()
        events = conn.execute(select(func.count()).select_from(activities)).scalar_one()
    return people, events


def post_form(public, data: dict[str, Any] | None = None, **headers: str):
    return public.post(URL, data=data or answers(), headers={**FROM_SITE, **headers})


def test_an_html_post_is_captured_and_redirected(public, db):
    response = post_form(public)

    assert response.status_code == 303
    assert response.headers["location"] == f"{ORIGIN}/thanks"
    assert response.headers["access-control-allow-origin"] == ORIGIN
    with db.read() as conn:
        touch = conn.execute(select(touches)).one()
    assert (touch.channel, touch.utm_source, touch.campaign) == (
        "web_form",
        "newsletter",
        "spring-launch",
    )
    assert stored(db) == (1, 2)  # the contact; form_submit and consent_given


def test_a_json_post_is_answered_with_json(public, db):
    response = public.post(URL, json=answers(), headers=FROM_SITE)

    assert response.status_code == 201
    assert response.json() == {"status": "accepted"}
    assert stored(db)[0] == 1


def test_a_honeypot_post_looks_accepted_and_stores_nothing(public, db):
    response = public.post(URL, json=answers(website="spam"), headers=FROM_SITE)

    assert (response.status_code, response.json()) == (201, {"status": "accepted"})
    assert stored(db) == (0, 0)


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {}, {"Referer": "https://evil.example/page"}],
)
def test_a_post_from_another_origin_is_refused_and_stores_nothing(public, db, headers):
    response = public.post(URL, data=answers(), headers=headers)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "access-control-allow-origin" not in response.headers
    assert stored(db) == (0, 0)


def test_the_referer_stands_in_for_a_missing_origin(public, db):
    response = public.post(URL, data=answers(), headers={"Referer": f"{ORIGIN}/contact"})

    assert response.status_code == 303


def test_preflight_is_answered_for_the_forms_origins_only(public):
    ok = public.request(
        "OPTIONS", URL, headers={**FROM_SITE, "Access-Control-Request-Method": "POST"}
    )
    refused = public.request("OPTIONS", URL, headers={"Origin": "https://evil.example"})

    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    assert "Idempotency-Key" in ok.headers["access-control-allow-headers"]
    assert refused.status_code == 403


def test_an_unknown_form_key_is_404(public):
    assert public.post("/f/form_nobody_has", data=answers(), headers=FROM_SITE).status_code == 404


def test_an_oversize_body_is_413_and_stores_nothing(public, db):
    response = post_form(public, answers(colour="x" * 5000))

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert stored(db) == (0, 0)


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=x", ""])
def test_another_content_type_is_415(public, db, content_type):
    response = public.post(
        URL, content=b"email=a@example.com", headers={**FROM_SITE, "Content-Type": content_type}
    )

    assert response.status_code == 415
    assert stored(db) == (0, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"email": {"nested": 1}, "newsletter": "on"}', "email"),
        (b'{"email": "a@example.com"}', "newsletter"),
    ],
)
def test_bad_json_is_422_naming_the_field(public, db, body, field):
    response = public.post(
        URL, content=body, headers={**FROM_SITE, "Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == [field]
    assert stored(db) == (0, 0)


BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browsers_bad_form_post_gets_a_page_saying_what_to_fix(public, db):
    page = f"{ORIGIN}/pricing?plan=<b>"
    response = post_form(public, answers(email="ada-at-example.com"), Accept=BROWSER, Referer=page)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "<h1>Please check the form</h1>" in response.text
    assert "email: " in response.text
    assert "ada-at-example.com" in response.text
    assert f'<a href="{ORIGIN}/pricing?plan=&lt;b&gt;">Back to the form</a>' in response.text
    assert stored(db) == (0, 0)


def test_a_bad_form_post_links_back_only_to_the_forms_own_site(public, db):
    response = post_form(
        public,
        answers(email="ada-at-example.com"),
        Accept=BROWSER,
        Referer="https://elsewhere.example/phish",
    )

    assert response.status_code == 422
    assert "Back to the form" not in response.text


def test_a_scripts_bad_form_post_still_gets_problem_json(public, db):
    response = post_form(public, answers(email="ada-at-example.com"), Accept="application/json")

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["loc"] == ["email"]


def test_hostile_text_is_stored_as_text(public, db):
    name = "<script>alert(1)</script>'; DROP TABLE contacts; --"
    response = public.post(URL, json=answers(first_name=name[:100]), headers=FROM_SITE)

    assert response.status_code == 201
    with db.read() as conn:
        assert conn.execute(select(contacts.c.first_name)).scalar_one() == name[:100]


def test_the_per_ip_rate_limit_answers_429_with_retry_after(public, db):
    codes = [post_form(public, answers(email=f"p{i}@example.com")).status_code for i in range(4)]

    assert codes == [303, 303, 303, 429]
    refused = post_form(public, answers(email="late@example.com"))
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["code"] == "rate_limited"
    assert stored(db)[0] == 3


def test_an_idempotency_key_replays_the_response_and_refuses_another_body(public, db):
    first = public.post(URL, json=answers(), headers={**FROM_SITE, "Idempotency-Key": "abc-1"})
    again = public.post(URL, json=answers(), headers={**FROM_SITE, "Idempotency-Key": "abc-1"})
    other = public.post(
        URL, json=answers(first_name="Eve"), headers={**FROM_SITE, "Idempotency-Key": "abc-1"}
    )

    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 409)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert other.json()["code"] == "idempotency_key_reused"
    assert stored(db) == (1, 2)  # the work was done once


def test_an_html_replay_redirects_again(public, db):
    first = post_form(public, **{"Idempotency-Key": "html-1"})
    again = post_form(public, **{"Idempotency-Key": "html-1"})

    assert (first.status_code, again.status_code) == (303, 303)
    assert again.headers["location"] == first.headers["location"]
    assert stored(db) == (1, 2)
