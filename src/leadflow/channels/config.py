"""Build a channel from its configuration mapping (a block of the workspace YAML).

    {"type": "log"}
    {"type": "memory"}
    {"type": "webhook", "url": "https://...", "secret_env": "LEADFLOW_WEBHOOK_SECRET",
     "timeout": 5.0, "retries": 2}          # timeout and retries are optional

The webhook secret is read from the environment variable that ``secret_env`` names, never
from the file: configuration files get committed and shared, secrets must not.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from leadflow.channels.base import Channel
from leadflow.channels.log import LogChannel
from leadflow.channels.memory import MemoryChannel
from leadflow.channels.webhook import WebhookChannel
from leadflow.clock import Clock

_WEBHOOK_KEYS = frozenset({"type", "url", "secret_env", "timeout", "retries"})


def channel_from_config(
    data: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> Channel:
    """The channel ``data`` describes. ``environ`` defaults to ``os.environ``.

    Raises ValueError naming the problem: an unknown type, a missing or unexpected key, or
    an unset secret variable.
    """
    kind = data.get("type")
    builders: dict[str, Callable[[], Channel]] = {
        "log": lambda: _simple(data, LogChannel),
        "memory": lambda: _simple(data, MemoryChannel),
        "webhook": lambda: _webhook(data, os.environ if environ is None else environ, clock),
    }
    if not isinstance(kind, str) or kind not in builders:
        raise ValueError(f"unknown channel type {kind!r}; known types: {', '.join(builders)}")
    return builders[kind]()


def _simple(data: Mapping[str, Any], make: Callable[[], Channel]) -> Channel:
    _refuse_extra_keys(data, {"type"})
    return make()


def _webhook(data: Mapping[str, Any], environ: Mapping[str, str], clock: Clock | None) -> Channel:
    if "secret" in data:
        raise ValueError(
            "webhook channel: do not put the secret in the configuration; set an environment "
            "variable and name it with 'secret_env'"
        )
    _refuse_extra_keys(data, _WEBHOOK_KEYS)
    url = _required_str(data, "url")
    variable = _required_str(data, "secret_env")
    secret = environ.get(variable)
    if not secret:
        raise ValueError(f"webhook channel: environment variable {variable} is not set or empty")
    return WebhookChannel(
        url,
        secret,
        timeout=float(data.get("timeout", 5.0)),
        retries=int(data.get("retries", 2)),
        clock=clock,
    )


def _required_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"webhook channel: {key!r} is required and must be a non-empty string")
    return value


def _refuse_extra_keys(data: Mapping[str, Any], allowed: set[str] | frozenset[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise ValueError(
            f"{data['type']} channel: unexpected keys {extra}; allowed: {sorted(allowed)}"
        )
