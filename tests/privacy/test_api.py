"""``GET /contacts/{ref}/export`` and ``DELETE /contacts/{ref}?erase=true``: status codes,
roles, and the erasure itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from sqlalchemy import update

from leadflow.access.service import create_key
from leadflow.api.app import create_app
from leadflow.contacts.models import contacts
from leadflow.storage.database import Database
from leadflow.workspace import Workspace
from tests.api.conftest import Client
from tests.privacy.conftest import EMAIL, Person, dump, traces_in


@pytest.fixture
def clients(workspace: Workspace, person: Person) -> Iterator[dict[str, Client]]:
    """A client per role (sales acting for olga, who owns nobody) and one without a key."""
    app = create_app(workspace)
    db, clock = workspace.db, workspace.clock
    keys: dict[str, str | None] = {
        role: create_key(db, clock, name=role, role=role, user_id=user).plaintext
        for role, user in (("admin", None), ("marketing", None), ("sales", "olga"))
    }
    keys["anonymous"] = None
    with start_blocking_portal() as portal:
        made = {name: Client(portal, app, key) for name, key in keys.items()}
        yield made
        for client in made.values():
            client.close()


def test_staff_export_everything_held_about_a_person(clients: dict[str, Client], person: Person):
    for role in ("admin", "marketing"):
        response = clients[role].get(f"/contacts/{person.id}/export")

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["contact"]["email"] == EMAIL
        assert [c["id"] for c in body["merged_contacts"]] == [person.merged_id]
        assert len(body["identities"]) == 6


def test_erase_needs_erase_true(clients: dict[str, Client], db: Database, person: Person):
    for query in ("", "?erase=false"):
        response = clients["admin"].delete(f"/contacts/{person.id}{query}")

        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert "only erasure is supported" in response.json()["detail"]
    assert traces_in(db) != []


def test_erase_true_erases_and_repeating_it_is_harmless(
    clients: dict[str, Client], db: Database, person: Person
):
    response = clients["marketing"].delete(f"/contacts/{person.merged_id}?erase=true")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["contact_id"], body["merged_ids"]) == (person.id, [person.merged_id])
    assert body["requested_by"].startswith("api:")
    assert body["removed"]["identities"] == 6
    assert body["previously_erased_at"] is None
    assert traces_in(db) == []

    again = clients["admin"].delete(f"/contacts/{person.id}?erase=true")
    assert again.status_code == 200
    assert set(again.json()["removed"].values()) == {0}
    assert again.json()["previously_erased_at"] == body["erased_at"]
    exported = clients["admin"].get(f"/contacts/{person.id}/export").json()
    assert (exported["contact"]["email"], exported["identities"]) == (None, [])
    assert len(exported["erasures"]) == 2


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/contacts/{id}/export"), ("DELETE", "/contacts/{id}?erase=true")],
)
def test_roles_and_unknown_contacts(
    clients: dict[str, Client], db: Database, person: Person, method: str, path: str
):
    def call(who: str, contact: Any) -> int:
        return clients[who].request(method, path.format(id=contact)).status_code

    with db.write() as conn:  # a sales key is refused for its own contacts too
        conn.execute(update(contacts).where(contacts.c.id == person.id).values(owner_id="olga"))
    assert call("anonymous", person.id) == 401
    assert call("sales", person.id) == 403
    assert call("admin", 999) == 404
    assert call("admin", "nobody@nowhere.example") == 404
    assert traces_in(db) != []


def _gone(response: Any, contact_id: int) -> dict[str, Any]:
    assert response.status_code == 410, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["code"], body["status"], body["title"]) == ("contact_erased", 410, "Gone")
    assert f"contact {contact_id} was erased" in body["detail"]
    return body


def test_writes_naming_an_erased_contact_are_410_gone(
    clients: dict[str, Client], db: Database, person: Person
):
    admin = clients["admin"]
    assert admin.delete(f"/contacts/{person.id}?erase=true").status_code == 200
    before = dump(db)

    one = admin.post("/events", json={"type": "page_view", "contact_id": person.merged_id})
    batch = admin.post(
        "/events/batch",
        json={
            "events": [
                {"type": "page_view", "contact_id": person.bystander_id},
                {"type": "page_view", "contact_id": person.id},
            ]
        },
    )
    moved = admin.post(f"/contacts/{person.id}/stage", json={"stage": "lost", "reason": "x"})
    qualified = admin.put(
        f"/contacts/{person.id}/qualification", json={"criteria": {"need": "low"}}
    )
    deal = admin.post("/deals", json={"contact": str(person.id)})
    merged = admin.post(f"/contacts/{person.bystander_id}/merge", json={"merged": str(person.id)})

    assert _gone(one, person.merged_id).get("errors") is None
    assert _gone(batch, person.id)["errors"] == [
        {
            "loc": ["events[1].contact_id"],
            "msg": batch.json()["detail"],
            "type": "contact_erased",
        }
    ]
    assert batch.json()["detail"].startswith("events[1]: ")
    for response in (moved, qualified, deal, merged):
        _gone(response, person.id)
    assert dump(db) == before


def test_an_event_naming_the_erased_person_by_email_makes_a_new_contact(
    clients: dict[str, Client], person: Person
):
    admin = clients["admin"]
    assert admin.delete(f"/contacts/{person.id}?erase=true").status_code == 200

    response = admin.post("/events/batch", json={"events": [{"type": "signup", "email": EMAIL}]})

    assert response.status_code == 200, response.text
    assert response.json()["contacts_created"] == 1
    fresh = admin.get(f"/contacts/{EMAIL}").json()
    assert fresh["id"] not in (person.id, person.merged_id)
