"""Bad input never ends in a 500 nor stores anything: malformed JSON, oversize bodies, the
wrong content type, invalid fields, injection strings and unicode edge cases."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from leadflow.activity.models import activities
from leadflow.api.app import create_app
from leadflow.contacts.models import contacts

PROBLEM = "application/problem+json"


def _count(db, table):
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_malformed_json_is_400(admin, db):
    response = admin.post(
        "/events",
        content=b'{"type": "call", "email": ',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "malformed_json"
    assert "position" in response.json()["detail"]
    assert _count(db, activities) == 0


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"type": "call", "email": "a@x.example"}'),
        ("application/x-www-form-urlencoded", b"type=call&email=a%40x.example"),
        ("application/xml", b"<event/>"),
    ],
)
def test_a_body_that_is_not_json_is_415(admin, db, content_type, body):
    response = admin.post("/events", content=body, headers={"content-type": content_type})

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert _count(db, activities) == 0


def test_an_oversize_body_is_413_before_it_is_read_whole(workspace, portal, admin_key):
    from tests.api.conftest import Client

    client = Client(portal, create_app(workspace, max_body_bytes=1000), admin_key)
    event = {"type": "call", "email": "a@x.example", "properties": {"note": "x" * 2000}}
    try:
        response = client.post("/events", json=event)
        streamed = client.post(
            "/events",
            content=_chunks(json.dumps(event).encode()),
            headers={"content-type": "application/json"},
        )
    finally:
        client.close()

    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "payload_too_large"
    assert streamed.status_code == 413  # no Content-Length: counted as it streams
    assert _count(workspace.db, activities) == 0


async def _chunks(data: bytes):
    for start in range(0, len(data), 100):
        yield data[start : start + 100]


def test_invalid_fields_are_422_with_each_location(admin):
    response = admin.post(
        "/events/batch",
        json={"events": [{"type": "call"}, {"type": 5, "email": "a@x.example", "extra": 1}]},
    )

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert ("body", "events", "1", "type") in locs
    assert ("body", "events", "1", "extra") in locs


def test_a_service_refusal_names_the_field(admin, db):
    response = admin.post(
        "/events/batch",
        json={
            "events": [
                {"type": "call", "email": "a@x.example"},
                {"type": "Bad Type!", "email": "b@x.example"},
            ]
        },
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["events[1].type"]
    assert _count(db, activities) == 0  # all or nothing
    assert _count(db, contacts) == 0


INJECTIONS = [
    "Robert'); DROP TABLE contacts;--",
    "' OR '1'='1",
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "Zoë Ångström 李小龙 👩🏽‍💻",
    "\u202eRTL override",
    "e\u0301 combining + \ufeff BOM + \u200b zero width",
    "\U0001d54f" * 50,  # astral-plane letters: two UTF-16 units each
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_hostile_text_is_stored_verbatim_and_returned_as_json(admin, text):
    created = admin.post(
        "/contacts",
        json={"email": "x@x.example", "first_name": text[:100], "properties": {"note": text}},
    )
    read = admin.get(f"/contacts/{created.json()['contact_id']}")

    assert created.status_code == 201
    assert read.headers["content-type"] == "application/json"
    assert read.json()["first_name"] == text[:100]
    assert read.json()["properties"]["note"] == text
    assert admin.get("/contacts").json()["items"][0]["first_name"] == text[:100]


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{"type": "call", "email": "a@x.example", "source": "a\\u0000b"}', "source"),
        (b'{"type": "call", "email": "a@x.example", "source": "\\ud800"}', "source"),
        (b'{"type": "call", "email": "a@x.example", "properties": {"k": "\\u0000"}}', "properties"),
        (b'{"type": "call", "email": "a@x.example", "properties": {"k": NaN}}', "properties"),
    ],
)
def test_text_no_database_can_store_is_422(admin, db, raw, where):
    response = admin.post("/events", content=raw, headers={"content-type": "application/json"})

    assert response.status_code in (400, 422)
    assert response.status_code == 400 or where in json.dumps(response.json()["errors"])
    assert _count(db, activities) == 0


def test_a_nul_in_a_path_or_query_is_422(admin):
    assert admin.get("/contacts/a%00b").status_code == 422
    assert admin.get("/contacts", params={"where": "\x00"}).status_code == 422


def test_a_too_long_value_is_422(admin, db):
    response = admin.post("/contacts", json={"email": "a@x.example", "first_name": "x" * 300})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "first_name"]
    assert _count(db, contacts) == 0


def test_an_id_beyond_64_bits_is_422_not_a_database_error(admin):
    huge = "9" * 25

    assert admin.get(f"/contacts/{huge}").status_code == 422
    assert admin.get(f"/contacts/{huge}/score").status_code == 422
    assert admin.post("/deals", json={"contact": huge}).status_code == 422
    assert admin.post("/events", json={"type": "call", "contact_id": int(huge)}).status_code == 422


@pytest.mark.parametrize(
    ("raw", "headers", "status", "code"),
    [
        (b"\x80{}", {"content-type": "application/json"}, 400, "bad_request"),
        (b"[" * 100_000, {"content-type": "application/json"}, 400, "bad_request"),
        (b"", {"content-type": "application/json"}, 422, "invalid"),
        (b'{"type": "call", "email": "a@x.example"}', {}, 415, "unsupported_media_type"),
        (b'["not", "an", "object"]', {"content-type": "application/json"}, 422, "invalid"),
    ],
)
def test_one_event_s_body_is_refused_as_a_declared_body_would_be(
    admin, db, raw, headers, status, code
):
    response = admin.post("/events", content=raw, headers=headers)

    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == code
    assert _count(db, activities) == 0


def test_one_event_s_field_errors_are_located_in_the_body(admin, db):
    response = admin.post("/events", json={"type": 5, "email": "a@x.example", "extra": 1})

    assert response.status_code == 422
    locs = {tuple(e["loc"]) for e in response.json()["errors"]}
    assert locs == {("body", "type"), ("body", "extra")}
    assert _count(db, activities) == 0


def test_a_json_media_type_with_a_suffix_is_json(admin, db):
    response = admin.post(
        "/events",
        content=b'{"type": "call", "email": "a@x.example"}',
        headers={"content-type": "application/vnd.leadflow+json; charset=utf-8"},
    )

    assert response.status_code == 200
    assert _count(db, activities) == 1
