"""API fixtures: an app on the test workspace, a synchronous httpx client over ASGI, keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI

from leadflow.access.service import create_key
from leadflow.api.app import create_app
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.service import capture_contact
from leadflow.lifecycle.service import move_contact
from leadflow.routing.service import load_routing
from leadflow.workspace import Workspace
from tests.routing.files import ROUTING


class Client:
    """httpx's AsyncClient over ASGITransport, driven from synchronous tests via a portal."""

    def __init__(self, portal: BlockingPortal, app: FastAPI, key: str | None) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._portal = portal
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test", headers=headers
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            return await self._client.request(method, url, **kwargs)

        return self._portal.call(call)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        self._portal.call(self._client.aclose)


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as p:
        yield p


@pytest.fixture
def app(workspace: Workspace) -> FastAPI:
    return create_app(workspace)


@pytest.fixture
def make_client(portal: BlockingPortal, app: FastAPI) -> Iterator[Any]:
    clients: list[Client] = []

    def make(key: str | None = None) -> Client:
        clients.append(Client(portal, app, key))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def admin_key(workspace: Workspace) -> str:
    return create_key(workspace.db, workspace.clock, name="admin", role="admin").plaintext


@pytest.fixture
def marketing_key(workspace: Workspace) -> str:
    return create_key(workspace.db, workspace.clock, name="mkt", role="marketing").plaintext


@pytest.fixture
def anon(make_client: Any) -> Client:
    return make_client()  # type: ignore[no-any-return]


@pytest.fixture
def admin(make_client: Any, admin_key: str) -> Client:
    return make_client(admin_key)  # type: ignore[no-any-return]


@pytest.fixture
def marketing(make_client: Any, marketing_key: str) -> Client:
    return make_client(marketing_key)  # type: ignore[no-any-return]


@pytest.fixture
def team(workspace, clock):
    """Two prospects handed off in turn: ann's contact goes to ana, bob's to bo."""
    load_routing(workspace.db, clock, ROUTING)
    ids = {}
    for email in ("ann@acme.example", "bob@acme.example"):
        contact_id = capture_contact(workspace.db, clock, ContactInput(email=email)).contact_id
        for stage in ("lead", "mql", "sql", "prospect"):
            move_contact(workspace.db, clock, contact_id, stage, by="sam", reason="test")
        ids[email] = contact_id
    unowned = capture_contact(workspace.db, clock, ContactInput(email="cy@x.example")).contact_id
    return {"ana": ids["ann@acme.example"], "bo": ids["bob@acme.example"], "nobody": unowned}


@pytest.fixture
def ana(make_client, workspace, clock, team):
    key = create_key(workspace.db, clock, name="ana", role="sales", user_id="ana").plaintext
    return make_client(key)
