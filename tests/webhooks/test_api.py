"""``/webhooks`` over ASGI: admin keys only; subscriptions created (secret shown once),
changed and deleted; bad values are 422 naming the field; the delivery log pages; resend."""

from __future__ import annotations

from typing import Any

import pytest

from leadflow.workspace import Workspace
from tests.api.conftest import Client
from tests.webhooks.conftest import publish

NEW = {"name": "crm", "url": "https://hooks.example.com/x", "topics": ["deal.won"]}


def test_only_admin_keys_reach_webhooks(anon: Client, marketing: Client):
    assert anon.get("/webhooks/subscriptions").status_code == 401
    refused = marketing.get("/webhooks/subscriptions")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"


def test_a_subscription_is_created_with_its_secret_once_then_listed_without(admin: Client):
    made = admin.post("/webhooks/subscriptions", json=NEW)

    assert made.status_code == 201, made.text
    body = made.json()
    assert body["secret"].startswith("whsec_")
    assert (body["name"], body["origin"], body["active"]) == ("crm", "api", True)
    listed = admin.get("/webhooks/subscriptions").json()
    assert [s["name"] for s in listed] == ["crm"]
    assert "secret" not in listed[0]
    assert admin.get(f"/webhooks/subscriptions/{body['id']}").json() == listed[0]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "http://example.com/x"}, "url"),
        ({"topics": ["stage.moved"]}, "topics"),
        ({"topics": []}, "topics"),
        ({"name": "Has Spaces"}, "name"),
        ({"secret": "short"}, "secret"),
        ({"url": "https://exa\x00mple.com"}, "url"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_values_are_422_naming_the_field(admin: Client, change: dict[str, Any], field: str):
    refused = admin.post("/webhooks/subscriptions", json={**NEW, **change})

    assert refused.status_code == 422, refused.text
    assert field in refused.text
    assert admin.get("/webhooks/subscriptions").json() == []


def test_the_same_name_twice_is_409(admin: Client):
    admin.post("/webhooks/subscriptions", json=NEW)

    assert admin.post("/webhooks/subscriptions", json=NEW).status_code == 409


def test_a_subscription_is_changed_and_deleted(admin: Client):
    made = admin.post("/webhooks/subscriptions", json=NEW).json()
    path = f"/webhooks/subscriptions/{made['id']}"

    changed = admin.patch(path, json={"topics": ["deal.lost", "stage.changed"], "active": False})
    deleted = admin.delete(path)

    assert changed.status_code == 200, changed.text
    assert (changed.json()["topics"], changed.json()["active"]) == (
        ["deal.lost", "stage.changed"],
        False,
    )
    assert deleted.status_code == 204
    assert admin.get(path).status_code == 404
    assert admin.delete(path).status_code == 404


def test_the_delivery_log_pages_newest_first_and_a_delivery_is_resent(
    admin: Client, workspace: Workspace
):
    admin.post("/webhooks/subscriptions", json=NEW)
    publish(workspace, "deal.won", *({"deal_id": i} for i in range(3)))

    first = admin.get("/webhooks/deliveries", params={"limit": 2}).json()
    second = admin.get(
        "/webhooks/deliveries", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    resent = admin.post("/webhooks/deliveries/1/resend")

    assert [d["id"] for d in first["items"]] == [3, 2]
    assert [d["id"] for d in second["items"]] == [1]
    assert second["next_cursor"] is None
    assert resent.status_code == 202
    assert resent.json()["payload"] == {"deal_id": 0}
    assert resent.json()["attempt_log"] == []
    assert admin.get("/webhooks/deliveries", params={"status": "dead"}).json()["items"] == []
    assert admin.post("/webhooks/deliveries/99/resend").status_code == 404
    assert admin.get("/webhooks/deliveries", params={"cursor": "nonsense"}).status_code == 422
