"""Workspace files kept by version in ``config_versions`` (lifecycle.yaml, routing.yaml):
activating a version, and reading the active one parsed, once per process and version.

Scoring keeps its models in a table of its own (``scoring_models``); these files only need
their text, a version and which one is active.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, bindparam, insert, select, update

from leadflow.lifecycle.models import config_versions

T = TypeVar("T")
_PARSED: dict[tuple[str, str], object] = {}


def activate(
    conn: Connection, kind: str, version: str, text: str, parsed: object, *, now: datetime
) -> None:
    """Store ``text`` as ``version`` of ``kind`` if new, and make it the active one."""
    conn.execute(update(config_versions).where(config_versions.c.kind == kind).values(active=False))
    same = (config_versions.c.kind == kind, config_versions.c.version == version)
    known = conn.execute(select(config_versions.c.id).where(*same)).scalar()
    if known is None:
        row = {"kind": kind, "version": version, "source": text, "loaded_at": now}
        conn.execute(insert(config_versions).values(active=True, **row))
    else:
        conn.execute(
            update(config_versions).where(config_versions.c.id == known).values(active=True)
        )
    _PARSED[kind, version] = parsed


# Read on every event batch, so built once, and only the version name is read: the text
# (several KB) only when this process has not parsed that version yet.
_ACTIVE = select(config_versions.c.version).where(
    config_versions.c.kind == bindparam("kind"), config_versions.c.active
)
_SOURCE = select(config_versions.c.source).where(
    config_versions.c.kind == bindparam("kind"), config_versions.c.version == bindparam("version")
)


def active(conn: Connection, kind: str, parse: Callable[[str, str], T]) -> T | None:
    """The active version of ``kind``, parsed by ``parse(text, filename)``; None if none."""
    version = conn.execute(_ACTIVE, {"kind": kind}).scalar()
    if version is None:
        return None
    if (kind, version) not in _PARSED:
        source = conn.execute(_SOURCE, {"kind": kind, "version": version}).scalar_one()
        _PARSED[kind, version] = parse(source, f"{kind} {version}")
    return _PARSED[kind, version]  # type: ignore[return-value]
