"""Stages, qualification, scores, deals, tasks and owners over HTTP."""

from __future__ import annotations

import pytest

from leadflow.routing.service import load_routing
from tests.routing.files import ROUTING


@pytest.fixture
def ann(admin):
    return admin.post("/contacts", json={"email": "ann@acme.example"}).json()["contact_id"]


def test_a_move_by_hand_is_in_the_history_with_who_and_why(admin, ann, admin_key):
    moved = admin.post(
        f"/contacts/{ann}/stage", json={"stage": "mql", "reason": "asked for a demo"}
    )
    read = admin.get(f"/contacts/{ann}/stage").json()

    assert moved.status_code == 200, moved.text
    assert read["stage"] == "mql"
    last = read["history"][-1]
    assert (last["to_stage"], last["cause"], last["reason"]) == (
        "mql",
        "manual",
        "asked for a demo",
    )
    assert last["by_user"] == f"api:{admin_key.split('_')[1]}"


def test_a_move_the_lifecycle_does_not_allow_is_422(admin, ann):
    response = admin.post(f"/contacts/{ann}/stage", json={"stage": "nowhere", "reason": "x"})

    assert response.status_code == 422
    assert response.json()["code"] == "stage_move_not_allowed"


def test_qualification_is_set_and_read(admin, ann):
    put = admin.put(f"/contacts/{ann}/qualification", json={"criteria": {"budget": "over_50k"}})
    got = admin.get(f"/contacts/{ann}/qualification").json()

    assert put.status_code == 200, put.text
    assert [(c["criterion"], c["value"], c["source"]) for c in got] == [
        ("budget", "over_50k", "sales")
    ]


def test_an_unknown_criterion_is_refused(admin, ann):
    response = admin.put(f"/contacts/{ann}/qualification", json={"criteria": {"shoe_size": "9"}})

    assert response.status_code == 422


def test_score_and_its_explanation(admin, ann):
    admin.post("/events", json={"type": "demo_requested", "contact_id": ann})

    score = admin.get(f"/contacts/{ann}/score").json()
    explained = admin.get(f"/contacts/{ann}/score/explain").json()

    assert score["contributions"] is None
    assert score["grade"] == explained["grade"]
    assert score["total"] == pytest.approx(explained["total"])
    rules = [c for c in explained["contributions"] if c["evidence"]]
    assert rules
    assert all(isinstance(e, int) for c in rules for e in c["evidence"])


def test_deals_open_win_and_lose(admin, ann):
    for stage in ("lead", "mql", "sql", "prospect"):
        admin.post(f"/contacts/{ann}/stage", json={"stage": stage, "reason": "fit"})
    opened = admin.post("/deals", json={"contact": str(ann), "amount": "1200.50", "name": "Pilot"})
    second = admin.post("/deals", json={"contact": "ann@acme.example"}).json()
    assert opened.status_code == 201, opened.text
    deal_id = opened.json()["id"]

    won = admin.post(f"/deals/{deal_id}/win", json={"reason": "signed"})
    again = admin.post(f"/deals/{deal_id}/win", json={"reason": "twice"})
    lost = admin.post(f"/deals/{second['id']}/lose", json={"reason": "budget"})

    assert opened.status_code == 201, opened.text
    assert opened.json()["amount"] == "1200.50"
    assert won.json()["status"] == "won"
    assert again.status_code == 409
    assert lost.json()["status"] == "lost"
    assert [d["id"] for d in admin.get("/deals", params={"status": "won"}).json()] == [deal_id]
    assert admin.get(f"/deals/{deal_id}").json()["renewal_date"] is not None
    assert admin.get("/deals/999").status_code == 404


def test_tasks_and_owners(admin, workspace, clock):
    load_routing(workspace.db, clock, ROUTING)
    contact = admin.post("/contacts", json={"email": "p@x.example"}).json()["contact_id"]
    for stage in ("lead", "mql", "sql", "prospect"):
        admin.post(f"/contacts/{contact}/stage", json={"stage": stage, "reason": "test"})

    (task,) = admin.get("/tasks").json()
    owners = [o["id"] for o in admin.get("/owners").json()]
    done = admin.post(f"/tasks/{task['id']}/complete")
    overdue = admin.get("/tasks", params={"overdue": "true"}).json()

    assert owners == ["ana", "bo", "cy", "lea"]
    assert (task["owner_id"], task["kind"], task["overdue"]) == ("ana", "first_touch", False)
    assert done.json()["status"] == "done"
    assert admin.post(f"/tasks/{task['id']}/complete").status_code == 409
    assert overdue == []
    assert admin.post("/tasks/999/complete").status_code == 404
