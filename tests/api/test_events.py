"""Events over HTTP: one, a batch (all or nothing, at most 1,000), idempotent retries,
answered once stored and scored; a contact's activity read back newest first."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select

from leadflow.activity.models import activities
from leadflow.activity.service import record_prepared
from leadflow.api import batcher
from leadflow.scoring.models import contact_scores


def _count(db, table):
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_one_event_is_stored_and_scored_before_the_answer(admin, db):
    response = admin.post(
        "/events",
        json={"type": "demo_requested", "email": "ann@acme.example", "idempotency_key": "k1"},
    )

    assert response.status_code == 200
    assert response.json()["duplicate"] is False
    assert isinstance(response.json()["event_id"], int)
    assert _count(db, activities) == 1
    assert _count(db, contact_scores) == 1  # scored in the same transaction
    score = admin.get("/contacts/ann@acme.example/score").json()
    assert score["engagement"] > 0


def test_a_retry_with_the_same_key_is_stored_once(admin, db):
    event = {"type": "page_view", "email": "ann@acme.example", "idempotency_key": "same"}

    first = admin.post("/events", json=event).json()
    again = admin.post("/events", json=event).json()

    assert first["duplicate"] is False
    assert again == {"event_id": None, "duplicate": True}
    assert _count(db, activities) == 1


def test_a_batch_of_1000_is_recorded_and_1001_refused(admin, db):
    events = [
        {"type": "page_view", "email": f"p{i % 50}@x.example", "idempotency_key": f"b{i}"}
        for i in range(1001)
    ]

    too_many = admin.post("/events/batch", json={"events": events})
    done = admin.post("/events/batch", json={"events": events[:1000]})
    retried = admin.post("/events/batch", json={"events": events[:1000]})

    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["loc"] == ["body", "events"]
    assert done.status_code == 200
    assert done.json()["recorded"] == 1000
    assert done.json()["contacts_created"] == 50
    assert retried.json()["duplicates"] == 1000
    assert _count(db, activities) == 1000


def test_an_empty_batch_is_refused(admin):
    assert admin.post("/events/batch", json={"events": []}).status_code == 422


def test_an_event_for_an_unknown_contact_id_is_404_and_stores_nothing(admin, db):
    response = admin.post("/events", json={"type": "call", "contact_id": 12345})

    assert response.status_code == 404
    assert _count(db, activities) == 0


def test_activity_pages_newest_first(admin):
    events = [
        {"type": "page_view", "email": "ann@acme.example", "properties": {"n": i}} for i in range(5)
    ]
    admin.post("/events/batch", json={"events": events})

    first = admin.get("/contacts/ann@acme.example/activity", params={"limit": 3}).json()
    rest = admin.get(
        "/contacts/ann@acme.example/activity", params={"cursor": first["next_cursor"]}
    ).json()

    got = [a["properties"]["n"] for a in first["items"] + rest["items"]]
    assert got == [4, 3, 2, 1, 0]
    assert rest["next_cursor"] is None


def test_event_times_must_carry_a_timezone(admin):
    response = admin.post(
        "/events",
        json={"type": "call", "email": "a@x.example", "occurred_at": "2026-11-02T09:00:00"},
    )

    assert response.status_code == 422
    assert "occurred_at" in response.json()["detail"]


def test_concurrent_single_events_share_transactions_and_keep_their_own_answers(
    app, portal, admin_key, db, monkeypatch
):
    """Many requests at once: the good ones are stored (once per key), the bad one alone is
    refused, and each request gets its own answer."""
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {admin_key}"}
    bodies = [
        {"type": "page_view", "email": f"p{i % 7}@x.example", "idempotency_key": f"c{i % 40}"}
        for i in range(60)
    ]
    bodies[13] = {"type": "page_view", "contact_id": 999_999}  # no such contact

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as c:
            return await asyncio.gather(*(c.post("/events", json=b) for b in bodies))

    groups = _spy_on_groups(monkeypatch)
    responses = portal.call(post_all)

    statuses = [r.status_code for r in responses]
    assert statuses[13] == 404
    assert statuses.count(200) == 59
    stored = [r.json()["event_id"] for r in responses if r.status_code == 200]
    assert len({i for i in stored if i is not None}) == 40  # 40 keys (c13 sent again by 53)
    assert _count(db, activities) == 40
    assert max(groups) > 1  # requests shared transactions


def _spy_on_groups(monkeypatch) -> list[int]:
    """The size of every group the batcher writes."""
    groups: list[int] = []

    def spy(conn, events, *, now):
        groups.append(len(events))
        return record_prepared(conn, events, now=now)

    monkeypatch.setattr(batcher, "record_prepared", spy)
    return groups


def test_an_invalid_single_event_is_refused_before_it_joins_a_group(
    app, portal, admin_key, db, monkeypatch
):
    """A bad event costs the others nothing: it never reaches a group, so no group fails
    and is retried event by event."""
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {admin_key}"}
    bodies = [{"type": "page_view", "email": f"p{i}@x.example"} for i in range(30)]
    bodies[7] = {"type": "Not A Type", "email": "bad@x.example"}

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as c:
            return await asyncio.gather(*(c.post("/events", json=b) for b in bodies))

    groups = _spy_on_groups(monkeypatch)
    responses = portal.call(post_all)

    assert responses[7].status_code == 422
    assert [r.status_code for r in responses].count(200) == 29
    assert sum(groups) == 29  # each good event written once: no group was retried
    assert _count(db, activities) == 29
