"""Channels: where notices go (a log, a webhook, an in-memory fake for tests).

Each channel is a small class with one ``send`` method; storage records every notice in
the services that send them. A channel never raises because a delivery failed: ``send``
returns a :class:`Delivery` saying what happened, and the caller records it.

    Channel              the base: ``name``, ``send(notice) -> Delivery``, ``close()``
    ├── LogChannel       one JSON line per notice on the ``leadflow.notices`` logger
    ├── WebhookChannel   a signed JSON POST over HTTPS, retried on 429/5xx/connection errors
    └── MemoryChannel    the fake for tests: keeps notices, fails on demand

Build one from configuration with :func:`channel_from_config`.
"""

from leadflow.channels.base import NOTICE_KINDS, Channel, Delivery, Notice, NoticeKind
from leadflow.channels.config import channel_from_config
from leadflow.channels.log import LogChannel
from leadflow.channels.memory import MemoryChannel
from leadflow.channels.webhook import WebhookChannel, verify_signature

__all__ = [
    "NOTICE_KINDS",
    "Channel",
    "Delivery",
    "LogChannel",
    "MemoryChannel",
    "Notice",
    "NoticeKind",
    "WebhookChannel",
    "channel_from_config",
    "verify_signature",
]
