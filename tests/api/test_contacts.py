"""Contacts and accounts over HTTP: capture, read by id or email, list with cursor pages,
conditions and sorting, merge."""

from __future__ import annotations

import json

import pytest

from leadflow.access.engine import Principal, Role
from leadflow.api.reads import contact_page
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.service import capture_contact
from tests.plans import query_plan, read_statements

ANN = {"email": "Ann@Acme.example", "first_name": "Ann", "country": "DE"}


def _capture(client, **fields):
    response = client.post("/contacts", json=fields)
    assert response.status_code in (200, 201), response.text
    return response.json()["contact_id"]


def test_capture_creates_then_updates_by_identity(admin):
    created = admin.post("/contacts", json={**ANN, "touch": {"channel": "webinar"}})
    updated = admin.post("/contacts", json={"email": "ann@acme.example", "title": "CTO"})

    assert created.status_code == 201
    assert created.json()["created"] is True
    assert created.json()["touch_id"] is not None
    assert updated.status_code == 200
    assert updated.json() == {
        "contact_id": created.json()["contact_id"],
        "created": False,
        "touch_id": None,
    }


def test_read_by_id_and_by_email_with_account_identities_and_touches(admin):
    account = {"domain": "acme.example", "name": "Acme"}
    contact_id = _capture(admin, **ANN, account=account, touch={"channel": "social"})

    by_id = admin.get(f"/contacts/{contact_id}").json()
    by_email = admin.get("/contacts/ann@acme.example").json()

    assert by_id == by_email
    assert by_id["first_name"] == "Ann"
    assert by_id["account"]["domain"] == "acme.example"
    assert [i["kind"] for i in by_id["identities"]] == ["email"]
    assert [t["channel"] for t in by_id["touches"]] == ["social"]


def test_unknown_contact_is_404(admin):
    assert admin.get("/contacts/999").json()["code"] == "not_found"
    assert admin.get("/contacts/nobody@x.example").status_code == 404


def test_cursor_pages_walk_every_contact_once_in_order(admin):
    ids = [_capture(admin, email=f"p{i}@x.example", last_name=f"N{i % 3}") for i in range(7)]

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, "sort": "-last_name", **({"cursor": cursor} if cursor else {})}
        page = admin.get("/contacts", params=params).json()
        seen += [(c["last_name"], c["id"]) for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert sorted(i for _, i in seen) == ids
    # Descending last name, and the id (descending too) breaks ties: a stable order.
    assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize("sort", ["id", "created_at", "-updated_at", "email"])
def test_every_sort_pages_without_gaps(admin, sort):
    ids = [_capture(admin, email=f"s{i}@x.example") for i in range(5)]

    first = admin.get("/contacts", params={"limit": 2, "sort": sort}).json()
    rest = admin.get(
        "/contacts", params={"limit": 10, "sort": sort, "cursor": first["next_cursor"]}
    ).json()

    got = [c["id"] for c in first["items"] + rest["items"]]
    assert sorted(got) == ids
    assert rest["next_cursor"] is None


def test_a_cursor_of_another_sort_or_forged_is_refused(admin):
    for i in range(3):
        _capture(admin, email=f"c{i}@x.example")
    cursor = admin.get("/contacts", params={"limit": 1}).json()["next_cursor"]

    other = admin.get("/contacts", params={"sort": "email", "cursor": cursor})
    forged = admin.get("/contacts", params={"cursor": "not-a-cursor!"})

    assert other.status_code == 422
    assert other.json()["errors"][0]["loc"] == ["cursor"]
    assert forged.status_code == 422


def test_where_filters_with_the_condition_language(admin):
    _capture(admin, email="de@x.example", country="DE")
    _capture(admin, email="fr@x.example", country="FR")
    where = json.dumps({"contact.country": {"in": ["DE"]}})

    page = admin.get("/contacts", params={"where": where}).json()

    assert [c["email"] for c in page["items"]] == ["de@x.example"]


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ('{"contact.nope": {"eq": 1}}', "condition_unknown_field"),
        ('{"contact.country": {"bogus": "DE"}}', "condition_unknown_operator"),
        ("{not json", "invalid"),
    ],
)
def test_a_bad_condition_is_422_naming_the_problem(admin, where, code):
    response = admin.get("/contacts", params={"where": where})

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == code
    assert "where" in body["detail"]


def test_limit_above_500_is_refused(admin):
    response = admin.get("/contacts", params={"limit": 501})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "limit"]


def test_merge_moves_the_merged_contact_into_the_survivor(admin):
    survivor = _capture(admin, email="a@x.example")
    merged = _capture(admin, email="b@x.example", first_name="Bea")

    response = admin.post(f"/contacts/{survivor}/merge", json={"merged": "b@x.example"})

    assert response.status_code == 200
    assert response.json()["merged_id"] == merged
    assert admin.get("/contacts/b@x.example").json()["id"] == survivor
    again = admin.post(f"/contacts/{survivor}/merge", json={"merged": str(survivor)})
    assert again.status_code == 409


def test_accounts_list_and_read(admin):
    _capture(admin, email="a@acme.example", account={"domain": "acme.example", "name": "Acme"})
    _capture(admin, email="b@initech.example", account={"domain": "initech.example"})

    page = admin.get("/accounts", params={"limit": 1}).json()
    rest = admin.get("/accounts", params={"cursor": page["next_cursor"]}).json()
    one = admin.get(f"/accounts/{page['items'][0]['id']}").json()

    assert [a["domain"] for a in page["items"] + rest["items"]] == [
        "acme.example",
        "initech.example",
    ]
    assert one["name"] == "Acme"
    assert admin.get("/accounts/999").status_code == 404


@pytest.mark.parametrize("sort", ["created_at", "-created_at"])
def test_a_page_by_creation_time_reads_the_index_not_every_contact(db, clock, sort):
    # Without an index on created_at each page read and sorted every active contact:
    # 17 ms a page at 100,000 contacts, 86 ms newest first.
    if not db.is_sqlite:
        pytest.skip("SQLite's query plan; PostgreSQL plans from its own statistics")
    for i in range(3):
        capture_contact(db, clock, ContactInput(email=f"n{i}@x.example"))
    admin = Principal(key_id=1, prefix="test", role=Role.admin, user_id=None)

    with read_statements(db) as statements:
        _, cursor = contact_page(
            db, admin, where=None, sort=sort, limit=1, cursor=None, now=clock.now()
        )
        contact_page(db, admin, where=None, sort=sort, limit=1, cursor=cursor, now=clock.now())

    pages = [(s, p) for s, p in statements if s.startswith("SELECT")]
    assert len(pages) == 2  # the first page, then the next from its cursor
    for statement, parameters in pages:
        plan = query_plan(db, statement, parameters)
        assert "USING INDEX ix_contacts_created_at" in plan[0], plan
        assert not [step for step in plan if "TEMP B-TREE" in step], plan
