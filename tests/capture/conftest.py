"""Capture fixtures: the shared forms.yaml in the test workspace, and a client for the app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anyio.from_thread import start_blocking_portal

from leadflow.api.app import create_app
from leadflow.capture.config import FORMS_FILE
from leadflow.workspace import Workspace
from tests.api.conftest import Client
from tests.capture.files import FORMS_YAML


@pytest.fixture
def public(workspace: Workspace) -> Iterator[Client]:
    """An anonymous client (no API key), as a website's visitors are."""
    (workspace.root / FORMS_FILE).write_text(FORMS_YAML)
    with start_blocking_portal() as portal:
        client = Client(portal, create_app(workspace), None)
        yield client
        client.close()
