"""``POST /events`` ahead of routing: a valid event with a verified key is answered by the
fast path; everything else is the app's own answer, with the body replayed to it, and no
event is stored twice."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from leadflow.activity.models import activities
from leadflow.api import events as events_module

PROBLEM = "application/problem+json"


def _count(db):
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(activities)).scalar_one()


@pytest.fixture
def app_calls(monkeypatch) -> list[bytes]:
    """The bodies the app's own endpoint parsed (the fast path does not call it)."""
    calls: list[bytes] = []
    parse = events_module.event_body

    def spy(body: bytes, content_type: str | None):
        calls.append(body)
        return parse(body, content_type)

    monkeypatch.setattr(events_module, "event_body", spy)
    return calls


def test_a_verified_key_s_valid_event_is_answered_ahead_of_the_app(admin, db, app_calls):
    first = admin.post("/events", json={"type": "call", "email": "ann@acme.example"})
    second = admin.post("/events", json={"type": "call", "email": "bob@acme.example"})
    again = admin.post("/events", json={"type": "call", "email": "bob@acme.example"})

    assert len(app_calls) == 1  # the first verified the key (now cached); then the fast path
    assert first.status_code == second.status_code == again.status_code == 200
    assert second.headers["content-type"] == "application/json"
    assert second.headers["content-length"] == str(len(second.content))
    assert isinstance(second.json()["event_id"], int)
    assert second.json()["duplicate"] is False
    assert again.json() == {"event_id": None, "duplicate": True}
    assert _count(db) == 2


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b'{"type": "call", "email": "a@x.example"', {}, 400, "malformed_json"),
        (b'{"type": "call", "email": "a@x.example"}', {"content-type": "text/plain"}, 415, None),
        (b'{"type": 5, "email": "a@x.example"}', {}, 422, "invalid"),
        (b'{"type": "Not A Type", "email": "a@x.example"}', {}, 422, "invalid"),
        (b'{"type": "call", "contact_id": 999999}', {}, 404, "not_found"),
        (b'{"type": "call", "email": "a@x.example", "properties": {"k": NaN}}', {}, 422, None),
    ],
)
def test_anything_but_success_is_the_app_s_own_answer(
    admin, db, app_calls, body, headers, status, code
):
    admin.post("/events", json={"type": "call", "email": "warm@acme.example"})  # key cached
    app_calls.clear()

    response = admin.post(
        "/events", content=body, headers={"content-type": "application/json", **headers}
    )

    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    if code is not None:
        assert response.json()["code"] == code
    assert app_calls == [body]  # the app read the very body the fast path had read
    assert _count(db) == 1  # only the warm-up event


def test_a_missing_or_wrong_key_is_the_app_s_401(anon, make_client, db, app_calls):
    event = {"type": "call", "email": "a@x.example"}

    missing = anon.post("/events", json=event)
    wrong = make_client("lf_nope_nope").post("/events", json=event)

    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert _count(db) == 0


def test_a_sales_key_is_checked_by_the_app(ana, team, db, app_calls):
    own = [ana.post("/events", json={"type": "call", "contact_id": team["ana"]}) for _ in "ab"]
    other = ana.post("/events", json={"type": "call", "contact_id": team["bo"]})

    assert [r.status_code for r in own] == [200, 200]
    assert other.status_code == 404  # not its contact: the app's scope check
    assert len(app_calls) == 3  # never the fast path: a sales key's contacts are limited


def test_a_streamed_body_goes_to_the_app(admin, db, app_calls):
    body = json.dumps({"type": "call", "email": "a@x.example"}).encode()

    async def chunks():
        yield body[:10]
        yield body[10:]

    admin.post("/events", json={"type": "call", "email": "warm@acme.example"})
    app_calls.clear()
    response = admin.post("/events", content=chunks(), headers={"content-type": "application/json"})

    assert response.status_code == 200
    assert app_calls == [body]  # no Content-Length: the app counts it as it streams
    assert _count(db) == 2
