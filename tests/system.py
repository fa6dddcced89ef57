"""Real parts of the system the tests start or drive (a browser, a Redis server, a uvicorn
process): a free loopback port for them, and one rule for when a part is missing."""

from __future__ import annotations

import os
import socket

import pytest


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unavailable(requirement: str, reason: str) -> None:
    """Skip the test for want of a system part, unless the environment variable
    ``requirement`` is 1 (CI installs the part and sets it): then fail, so the test cannot
    pass by not running."""
    if os.environ.get(requirement) == "1":
        pytest.fail(f"{requirement}=1 but {reason}")
    pytest.skip(reason)
