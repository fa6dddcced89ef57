"""Publishing into the outbox inside the caller's transaction, subscriptions through the
API and from the workspace file, and the delivery log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from leadflow.errors import Conflict, NotFound, ValidationError
from leadflow.webhooks import service
from leadflow.webhooks.config import WebhooksConfigError, find_config
from leadflow.webhooks.engine import RETRY_WINDOW
from leadflow.webhooks.models import webhook_deliveries, webhook_events
from leadflow.workspace import Workspace
from tests.webhooks.conftest import count, deliveries, events, publish, subscribe


def test_publishing_with_no_subscriber_writes_nothing_and_reads_at_most_one_payload(
    workspace: Workspace,
):
    read = 0

    def payloads() -> Iterator[dict[str, Any]]:
        nonlocal read
        for i in range(1000):
            read += 1
            yield {"contact_id": i}

    with workspace.db.write() as conn:
        written = service.publish(conn, "stage.changed", payloads(), now=workspace.clock.now())

    assert written == 0
    assert read <= 1
    assert count(workspace.db, webhook_events) == 0


@pytest.mark.parametrize(("payloads", "queries"), [([], 0), ([{"contact_id": 1}] * 50, 1)])
def test_publishing_with_no_subscriber_costs_one_query_at_most(
    workspace: Workspace, payloads: list[dict[str, Any]], queries: int
):
    subscribe(workspace, topics=["deal.won"])  # another topic: nothing to write either
    statements: list[str] = []
    with workspace.db.write() as conn:
        event.listen(conn, "before_cursor_execute", lambda *args: statements.append(args[2]))
        service.publish(conn, "stage.changed", iter(payloads), now=workspace.clock.now())

    assert len(statements) == queries
    assert count(workspace.db, webhook_events) == 0


def test_an_event_gets_one_pending_delivery_per_subscription_to_its_topic(workspace: Workspace):
    crm = subscribe(workspace, topics=["stage.changed"], name="crm")
    both = subscribe(workspace, topics=["stage.changed", "deal.won"], name="both")
    subscribe(workspace, topics=["deal.won"], name="other")
    now = workspace.clock.now()

    written = publish(workspace, "stage.changed", {"contact_id": 1}, {"contact_id": 2})

    assert written == 2
    assert events(workspace.db) == [
        ("stage.changed", {"contact_id": 1}),
        ("stage.changed", {"contact_id": 2}),
    ]
    found = deliveries(workspace.db)
    assert sorted((d["event_id"], d["subscription_id"]) for d in found) == [
        (1, crm.id),
        (1, both.id),
        (2, crm.id),
        (2, both.id),
    ]
    assert {d["status"] for d in found} == {"pending"}
    assert {d["next_attempt_at"] for d in found} == {now}
    assert {d["retry_until"] for d in found} == {now + RETRY_WINDOW}


def test_a_topic_nobody_subscribes_to_writes_no_event(workspace: Workspace):
    subscribe(workspace, topics=["deal.won"])

    assert publish(workspace, "stage.changed", {"contact_id": 1}) == 0
    assert count(workspace.db, webhook_events) == 0


def test_an_inactive_subscription_gets_no_deliveries(workspace: Workspace):
    crm = subscribe(workspace)
    service.update_subscription(workspace.db, crm.id, active=False)

    assert publish(workspace, "stage.changed", {"contact_id": 1}) == 0


def test_a_rolled_back_transaction_publishes_nothing(workspace: Workspace):
    subscribe(workspace)

    def change_that_fails() -> None:
        with workspace.db.write() as conn:
            service.publish(conn, "stage.changed", [{"contact_id": 1}], now=workspace.clock.now())
            raise RuntimeError("the change failed after publishing")

    with pytest.raises(RuntimeError):
        change_that_fails()

    assert count(workspace.db, webhook_events) == 0
    assert count(workspace.db, webhook_deliveries) == 0


# -- subscriptions through the API ---------------------------------------------------------


def test_a_subscription_gets_a_generated_secret_shown_once(workspace: Workspace):
    made, secret = service.create_subscription(
        workspace.db,
        workspace.clock,
        name="crm",
        url="https://h.example.com/x",
        topics=["deal.won"],
    )

    assert secret.startswith("whsec_")
    assert len(secret) > 30
    assert made.origin == "api"
    assert made.active
    assert made.topics == ("deal.won",)
    assert "secret" not in vars(made)
    assert service.list_subscriptions(workspace.db) == [made]


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"name": "Bad Name"}, "name"),
        ({"url": "http://example.com/x"}, "url"),
        ({"topics": ["stage.change"]}, "topics"),
        ({"topics": []}, "topics"),
        ({"secret": "short"}, "secret"),
    ],
)
def test_bad_subscription_values_are_refused_naming_the_field(
    workspace: Workspace, given: dict[str, Any], field: str
):
    values: dict[str, Any] = {
        "name": "crm",
        "url": "https://h.example.com/x",
        "topics": ["deal.won"],
    }

    with pytest.raises(ValidationError) as caught:
        service.create_subscription(workspace.db, workspace.clock, **{**values, **given})
    assert caught.value.field == field
    assert service.list_subscriptions(workspace.db) == []


def test_names_are_unique(workspace: Workspace):
    subscribe(workspace)

    with pytest.raises(Conflict, match="named 'crm' exists"):
        subscribe(workspace)


def test_a_subscription_is_updated_and_deleted_with_its_log(workspace: Workspace):
    crm = subscribe(workspace)
    publish(workspace, "stage.changed", {"contact_id": 1})

    changed = service.update_subscription(workspace.db, crm.id, topics=["deal.lost"], active=False)
    assert changed.topics == ("deal.lost",)
    assert not changed.active
    service.delete_subscription(workspace.db, crm.id)

    assert service.list_subscriptions(workspace.db) == []
    assert count(workspace.db, webhook_deliveries) == 0
    with pytest.raises(NotFound):
        service.get_subscription(workspace.db, crm.id)


# -- subscriptions from the workspace file -------------------------------------------------

FILE = """\
webhooks:
  - name: crm
    url: https://hooks.example.com/crm
    topics: [contact.created, stage.changed]
    secret_env: CRM_SECRET
  - name: sales-chat
    url: http://127.0.0.1:9000/hook
    topics: [prospect.assigned]
    secret_env: CHAT_SECRET
    active: false
"""
ENV = {"CRM_SECRET": "s" * 20, "CHAT_SECRET": "c" * 20}


def write(root: Path, text: str, name: str = "webhooks.yaml") -> None:
    (root / name).write_text(text, encoding="utf-8")


def test_the_file_subscriptions_are_loaded_updated_and_deactivated(workspace: Workspace):
    write(workspace.root, FILE)
    config = find_config(workspace.root)
    assert config is not None

    first = service.load_config(workspace.db, workspace.clock, config, environ=ENV)
    again = service.load_config(workspace.db, workspace.clock, config, environ=ENV)
    write(
        workspace.root, FILE.split("  - name: sales-chat")[0].replace("stage.changed", "deal.won")
    )
    edited = find_config(workspace.root)
    assert edited is not None
    last = service.load_config(workspace.db, workspace.clock, edited, environ=ENV)

    assert first == service.Loaded(("crm", "sales-chat"), (), ())
    assert again == service.Loaded((), (), ())
    assert last == service.Loaded((), ("crm",), ())
    stored = {s.name: s for s in service.list_subscriptions(workspace.db)}
    assert stored["crm"].topics == ("contact.created", "deal.won")
    assert stored["crm"].origin == "config"
    assert stored["crm"].active
    assert not stored["sales-chat"].active


def test_a_file_subscription_dropped_from_the_file_is_deactivated(workspace: Workspace):
    write(workspace.root, FILE)
    config = find_config(workspace.root)
    assert config is not None
    service.load_config(workspace.db, workspace.clock, config, environ=ENV)
    write(workspace.root, FILE.split("  - name: sales-chat")[0])
    shorter = find_config(workspace.root)
    assert shorter is not None
    service.load_config(workspace.db, workspace.clock, config, environ=ENV)

    assert service.load_config(
        workspace.db, workspace.clock, shorter, environ=ENV
    ) == service.Loaded((), (), ())
    crm = next(s for s in service.list_subscriptions(workspace.db) if s.name == "crm")
    with pytest.raises(Conflict, match="change it there"):
        service.update_subscription(workspace.db, crm.id, active=False)


def test_a_file_secret_variable_that_is_unset_refuses_the_load(workspace: Workspace):
    write(workspace.root, FILE)
    config = find_config(workspace.root)
    assert config is not None

    with pytest.raises(WebhooksConfigError) as caught:
        service.load_config(workspace.db, workspace.clock, config, environ={"CRM_SECRET": "x" * 20})

    assert str(caught.value) == (
        "webhooks.yaml:9: webhook 'sales-chat': environment variable CHAT_SECRET is not set"
    )
    assert service.list_subscriptions(workspace.db) == []


def test_a_file_name_an_api_subscription_holds_is_refused(workspace: Workspace):
    subscribe(workspace, name="crm")
    write(workspace.root, FILE)
    config = find_config(workspace.root)
    assert config is not None

    with pytest.raises(Conflict, match=r"webhooks\.yaml:2: an API subscription is named 'crm'"):
        service.load_config(workspace.db, workspace.clock, config, environ=ENV)


# -- the delivery log ----------------------------------------------------------------------


def test_the_log_lists_deliveries_newest_first_by_status(workspace: Workspace):
    subscribe(workspace, topics=["deal.won"])
    publish(workspace, "deal.won", {"deal_id": 1}, {"deal_id": 2})

    found = service.list_deliveries(workspace.db, status="pending")

    assert [(d["id"], d["topic"], d["subscription"]) for d in found] == [
        (2, "deal.won", "crm"),
        (1, "deal.won", "crm"),
    ]
    assert service.list_deliveries(workspace.db, status="dead") == []
    with pytest.raises(ValidationError, match="unknown status 'gone'"):
        service.list_deliveries(workspace.db, status="gone")


def test_resend_queues_any_delivery_now_with_a_fresh_window(workspace: Workspace, frozen: Any):
    subscribe(workspace, topics=["deal.won"])
    publish(workspace, "deal.won", {"deal_id": 1})
    frozen.advance(timedelta(days=5))

    again = service.resend(workspace.db, workspace.clock, 1)

    assert again["status"] == "pending"
    assert again["next_attempt_at"] == frozen.now()
    assert again["retry_until"] == frozen.now() + RETRY_WINDOW
    assert again["payload"] == {"deal_id": 1}
    with pytest.raises(NotFound):
        service.resend(workspace.db, workspace.clock, 99)


def test_prune_removes_settled_deliveries_and_their_events_but_keeps_pending_ones(
    workspace: Workspace, frozen: Any
):
    subscribe(workspace, topics=["deal.won"])
    publish(workspace, "deal.won", {"deal_id": 1}, {"deal_id": 2}, {"deal_id": 3})
    with workspace.db.write() as conn:
        conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id.in_([1, 2]))
            .values(status="delivered")
        )
    frozen.advance(timedelta(days=31))
    publish(workspace, "deal.won", {"deal_id": 4})

    pruned = service.prune(workspace.db, workspace.clock, older_than=timedelta(days=30))

    assert pruned == service.Pruned(deliveries=2, events=2)
    assert [(d["event_id"], d["status"]) for d in deliveries(workspace.db)] == [
        (3, "pending"),
        (4, "pending"),
    ]
    assert [p["deal_id"] for _, p in events(workspace.db)] == [3, 4]
