"""Builders shared by the webhook tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from sqlalchemy import func, select

from leadflow.clock import FrozenClock
from leadflow.storage.database import Database
from leadflow.webhooks import service
from leadflow.webhooks.models import webhook_deliveries, webhook_events
from leadflow.webhooks.service import Subscription
from leadflow.workspace import Workspace

# The API fixtures (an app on the test workspace, clients with keys of each role), for
# test_api.py; they are fixtures, so importing them here is what makes them available.
from tests.api.conftest import (  # noqa: F401
    admin,
    admin_key,
    anon,
    app,
    make_client,
    marketing,
    marketing_key,
    portal,
)

SECRET = "whsec_0123456789abcdef0123"


def subscribe(
    workspace: Workspace,
    url: str = "https://hooks.example.com/leadflow",
    topics: Sequence[str] = ("stage.changed", "contact.created"),
    *,
    name: str = "crm",
) -> Subscription:
    found, _ = service.create_subscription(
        workspace.db, workspace.clock, name=name, url=url, topics=topics, secret=SECRET
    )
    return found


def publish(workspace: Workspace, topic: str, *payloads: Mapping[str, Any]) -> int:
    with workspace.db.write() as conn:
        return service.publish(conn, topic, payloads, now=workspace.clock.now())


def count(db: Database, table: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def events(db: Database) -> list[tuple[str, dict[str, Any]]]:
    with db.read() as conn:
        rows = conn.execute(
            select(webhook_events.c.topic, webhook_events.c.payload).order_by(webhook_events.c.id)
        )
        return [(topic, dict(payload)) for topic, payload in rows]


def deliveries(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.id))
        return [dict(r) for r in rows.mappings()]


@pytest.fixture
def frozen(workspace: Workspace) -> FrozenClock:
    assert isinstance(workspace.clock, FrozenClock)
    return workspace.clock
