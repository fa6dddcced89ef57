"""What stands in front of the public endpoints, without a web framework: the forms file
as currently written, origins, and rate limits (the ``limits`` package).

Rate limits count in memory by default, per process. With several server processes, point
``LEADFLOW_RATE_LIMIT_STORAGE`` at a shared store (``redis://host:6379``) so they count
together; any storage URI the ``limits`` package knows works.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse as parse_limit
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from leadflow.capture.config import FORMS_FILE, FormsConfig, load_forms
from leadflow.errors import ConfigError, Forbidden, RateLimited
from leadflow.lifecycle.config import LIFECYCLE_FILE, parse_lifecycle

_log = logging.getLogger("leadflow.capture")


class RateLimitExceeded(RateLimited):
    """Too many requests; ``retry_after`` says in how many seconds to try again."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimiter:
    """Moving-window limits by key, e.g. ``("form", key, "ip", address)``."""

    def __init__(self, storage_uri: str = "memory://") -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def hit(self, limit: str, *key: str, what: str) -> None:
        """Count one request; raise :class:`RateLimitExceeded` when ``limit`` is used up."""
        item = parse_limit(limit)
        if self._limiter.hit(item, *key):
            return
        reset = self._limiter.get_window_stats(item, *key).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise RateLimitExceeded(
            f"too many requests {what} (at most {limit}); retry later", retry_after=wait
        )


def request_origin(origin: str | None, referer: str | None) -> str | None:
    """The origin a browser posted from: its Origin header, else its Referer's origin."""
    if origin and origin != "null":
        return origin.lower().rstrip("/")
    if referer:
        parts = urlsplit(referer)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}".lower()
    return None


def check_origin(origin: str | None, allowed: tuple[str, ...], what: str) -> str:
    """The origin, if ``allowed`` lists it; :class:`Forbidden` otherwise."""
    if origin is None:
        raise Forbidden(f"{what} accepts posts from its own web pages only (no Origin was sent)")
    if origin not in allowed:
        raise Forbidden(f"{what} does not accept posts from {origin}")
    return origin


@dataclass
class _Loaded:
    config: FormsConfig
    stamp: tuple[float, float] | None  # the mtimes of forms.yaml and lifecycle.yaml


class FormsFile:
    """The workspace's forms.yaml, read again when it (or lifecycle.yaml) changes. A file
    edited into a broken state does not take the forms down: the last good version serves
    on, and the problem is logged (``leadflow config check`` names it too)."""

    def __init__(self, root: Path) -> None:
        self.path = root / FORMS_FILE
        self.lifecycle_path = root / LIFECYCLE_FILE
        self._lock = threading.Lock()
        self._loaded = _Loaded(FormsConfig(), None)
        self.current()

    def current(self) -> FormsConfig:
        stamp = (_mtime(self.path), _mtime(self.lifecycle_path))
        if stamp == self._loaded.stamp:
            return self._loaded.config
        with self._lock:
            if stamp != self._loaded.stamp:
                self._loaded = _Loaded(self._read(self._loaded.config), stamp)
        return self._loaded.config

    def _read(self, last: FormsConfig) -> FormsConfig:
        try:
            lifecycle = None
            if self.lifecycle_path.exists():
                text = self.lifecycle_path.read_text(encoding="utf-8")
                lifecycle = parse_lifecycle(text, filename=LIFECYCLE_FILE)
            return load_forms(self.path, lifecycle)
        except ConfigError as exc:
            _log.error("%s is not valid; the last good version stays in use: %s", FORMS_FILE, exc)
            return last


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
