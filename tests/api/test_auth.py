"""Keys and roles: who may call what. A sales key sees only its user's contacts and tasks;
anything else of another owner is a 404, so ids do not leak."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadflow.access.service import revoke_key
from leadflow.routing.service import list_tasks


def test_a_missing_key_is_401_with_a_challenge(anon):
    response = anon.get("/contacts")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthorized"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer lf_00000000_" + "A" * 43},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": "lf_deadbeef_" + "x" * 43},
    ],
)
def test_an_invalid_key_is_401(anon, admin_key, headers):
    response = anon.get("/contacts", headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_the_x_api_key_header_is_accepted(anon, admin_key):
    response = anon.get("/contacts", headers={"X-API-Key": admin_key})

    assert response.status_code == 200


def test_a_revoked_key_is_refused_within_the_cache_time(workspace, admin, admin_key, clock):
    assert admin.get("/contacts").status_code == 200

    # As `leadflow keys revoke` does it: in another process, not through this app's cache.
    revoke_key(workspace.db, clock, prefix=admin_key.split("_")[1])
    cached = admin.get("/contacts")
    clock.advance(timedelta(seconds=6))
    refused = admin.get("/contacts")

    assert cached.status_code == 200  # verified less than 5 s ago
    assert refused.status_code == 401


def test_a_marketing_key_may_do_what_admin_does_here(marketing):
    assert marketing.post("/contacts", json={"email": "m@x.example"}).status_code == 201
    assert marketing.get("/deals").status_code == 200
    assert marketing.get("/owners").status_code == 200


# -- sales keys ----------------------------------------------------------------------------


def test_sales_lists_and_reads_only_its_own_contacts(ana, team):
    page = ana.get("/contacts").json()
    other = ana.get(f"/contacts/{team['bo']}")
    by_email = ana.get("/contacts/bob@acme.example")

    assert [c["id"] for c in page["items"]] == [team["ana"]]
    assert ana.get(f"/contacts/{team['ana']}").status_code == 200
    assert other.status_code == 404
    assert other.json()["detail"] == f"no contact '{team['bo']}'"
    assert by_email.status_code == 404


@pytest.mark.parametrize(
    "path",
    ["activity", "stage", "qualification", "score"],
)
def test_sales_gets_404_for_another_owners_contact_everywhere(ana, team, path):
    assert ana.get(f"/contacts/{team['ana']}/{path}").status_code == 200
    assert ana.get(f"/contacts/{team['bo']}/{path}").status_code == 404


def test_sales_records_activity_only_on_its_own_contacts(ana, team, admin):
    own = ana.post("/events", json={"type": "call", "contact_id": team["ana"]})
    other = ana.post("/events", json={"type": "call", "email": "bob@acme.example"})
    unknown = ana.post("/events", json={"type": "call", "email": "new@x.example"})
    batch = ana.post(
        "/events/batch",
        json={
            "events": [
                {"type": "call", "contact_id": team["ana"]},
                {"type": "call", "contact_id": team["bo"]},
            ]
        },
    )

    assert own.status_code == 200
    assert other.status_code == 404
    assert unknown.status_code == 404  # a sales key does not create contacts
    assert batch.status_code == 404
    assert batch.json()["detail"].startswith("events[1]:")
    calls = admin.get(f"/contacts/{team['ana']}/activity").json()["items"]
    assert [a["type"] for a in calls] == ["call"]  # the refused batch stored nothing


def test_sales_moves_and_qualifies_its_own_contacts_only(ana, team):
    body = {"stage": "disqualified", "reason": "no budget"}
    qualify = {"criteria": {"budget": "over_50k"}}

    assert ana.post(f"/contacts/{team['bo']}/stage", json=body).status_code == 404
    assert ana.put(f"/contacts/{team['bo']}/qualification", json=qualify).status_code == 404
    moved = ana.post(f"/contacts/{team['ana']}/stage", json=body)
    assert moved.status_code == 200, moved.text
    assert moved.json()["history"][-1]["by_user"] == "ana"


def test_sales_sees_and_completes_only_its_own_tasks(ana, workspace, clock, team):
    tasks = {t.owner_id: t.id for t in list_tasks(workspace.db, now=clock.now())}

    listed = ana.get("/tasks", params={"owner": "bo"}).json()
    other = ana.post(f"/tasks/{tasks['bo']}/complete")
    own = ana.post(f"/tasks/{tasks['ana']}/complete", json={"note": "called"})

    assert [t["owner_id"] for t in listed] == ["ana"]
    assert other.status_code == 404
    assert own.status_code == 200
    assert own.json()["status"] == "done"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/contacts"),
        ("POST", "/contacts/1/merge"),
        ("GET", "/accounts"),
        ("GET", "/deals"),
        ("POST", "/deals"),
        ("GET", "/owners"),
    ],
)
def test_sales_may_not_use_staff_endpoints(ana, method, path):
    response = ana.request(method, path, json={})

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
