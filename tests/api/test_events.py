"""Events over HTTP: one, a batch (all or nothing, at most 1,000), idempotent retries,
answered once stored and scored; a contact's activity read back newest first."""

from __future__ import annotations

from sqlalchemy import func, select

from leadflow.activity.models import activities
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
    assert response.json()["recorded"] == 1
    assert response.json()["contacts_created"] == 1
    assert _count(db, activities) == 1
    assert _count(db, contact_scores) == 1  # scored in the same transaction
    score = admin.get("/contacts/ann@acme.example/score").json()
    assert score["engagement"] > 0


def test_a_retry_with_the_same_key_is_stored_once(admin, db):
    event = {"type": "page_view", "email": "ann@acme.example", "idempotency_key": "same"}

    first = admin.post("/events", json=event).json()
    again = admin.post("/events", json=event).json()

    assert (first["recorded"], first["duplicates"]) == (1, 0)
    assert (again["recorded"], again["duplicates"]) == (0, 1)
    assert again["event_ids"] == [None]
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
