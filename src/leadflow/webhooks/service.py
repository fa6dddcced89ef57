"""Webhooks with storage: publishing facts into the outbox inside the caller's transaction,
subscriptions (from the workspace file or the API), the delivery log and resending by hand.

Delivery itself (claiming due deliveries and posting them) is :mod:`leadflow.webhooks.delivery`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, select, update

from leadflow.clock import Clock
from leadflow.errors import Conflict, NotFound, ValidationError
from leadflow.storage.database import Database
from leadflow.webhooks.engine import MIN_SECRET, RETRY_WINDOW, SLUG, check_topics, check_url
from leadflow.webhooks.models import (
    webhook_attempts,
    webhook_deliveries,
    webhook_events,
    webhook_subscriptions,
)

STATUSES = ("pending", "delivered", "dead")
CONFIG, API = "config", "api"

if TYPE_CHECKING:  # the domains that publish import this module: keep its imports few
    from leadflow.webhooks.config import WebhooksConfig

S = webhook_subscriptions
D = webhook_deliveries
E = webhook_events
A = webhook_attempts


@dataclass(frozen=True)
class Subscription:
    """A subscription as shown to people and the API: never its secret."""

    id: int
    name: str
    url: str
    topics: tuple[str, ...]
    origin: str  # config | api
    active: bool
    created_at: datetime


# -- publishing ---------------------------------------------------------------------------


def publish(
    conn: Connection, topic: str, payloads: Iterable[Mapping[str, Any]], *, now: datetime
) -> int:
    """Write one event per payload of ``topic`` and one pending delivery per active
    subscription to it, in the caller's transaction; the number of events written.

    Called on hot paths: ``payloads`` may be a lazy iterable (a generator), which is not
    read at all when nobody subscribes to anything; one query finds the subscribers."""
    return publish_each(conn, ((topic, p) for p in payloads), now=now)


def publish_each(
    conn: Connection, items: Iterable[tuple[str, Mapping[str, Any]]], *, now: datetime
) -> int:
    """:func:`publish` for (topic, payload) pairs of several topics, with one query."""
    iterator = iter(items)
    first = next(iterator, None)
    if first is None:
        return 0
    subscribers = _subscribers(conn)
    if not subscribers:
        return 0
    events = [(topic, dict(p)) for topic, p in chain([first], iterator) if topic in subscribers]
    if not events:
        return 0
    rows = [{"topic": topic, "payload": payload, "created_at": now} for topic, payload in events]
    stmt = insert(E).returning(E.c.id, sort_by_parameter_order=True)
    event_ids = conn.execute(stmt, rows).scalars().all()
    deliveries = [
        _pending(event_id, subscription_id, now)
        for event_id, (topic, _) in zip(event_ids, events, strict=True)
        for subscription_id in subscribers[topic]
    ]
    conn.execute(insert(D), deliveries)
    return len(events)


def _subscribers(conn: Connection) -> dict[str, list[int]]:
    """Active subscription ids by topic (the table holds a handful of rows)."""
    found: dict[str, list[int]] = {}
    for sub_id, topics in conn.execute(select(S.c.id, S.c.topics).where(S.c.active)):
        for topic in topics:
            found.setdefault(topic, []).append(sub_id)
    return found


def _pending(event_id: int, subscription_id: int, now: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "subscription_id": subscription_id,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "retry_until": now + RETRY_WINDOW,
        "created_at": now,
    }


# -- subscriptions ------------------------------------------------------------------------


def list_subscriptions(db: Database) -> list[Subscription]:
    with db.read() as conn:
        rows = conn.execute(select(S).order_by(S.c.name)).mappings().all()
    return [_subscription(dict(r)) for r in rows]


def get_subscription(db: Database, subscription_id: int) -> Subscription:
    with db.read() as conn:
        return _subscription(_row(conn, subscription_id))


def create_subscription(
    db: Database,
    clock: Clock,
    *,
    name: str,
    url: str,
    topics: Sequence[str],
    secret: str | None = None,
    active: bool = True,
) -> tuple[Subscription, str]:
    """A subscription made through the API; with its secret (generated unless given),
    which the caller shows once."""
    values = _checked(name=name, url=url, topics=topics, secret=secret)
    secret = values.pop("secret", None) or "whsec_" + secrets.token_urlsafe(32)
    with db.write() as conn:
        if conn.execute(select(S.c.id).where(S.c.name == values["name"])).first():
            raise Conflict(f"a webhook subscription named {values['name']!r} exists already")
        row = {**values, "secret": secret, "origin": API, "active": active}
        stmt = insert(S).values(created_at=clock.now(), **row).returning(S.c.id)
        new_id = conn.execute(stmt).scalar_one()
        return _subscription(_row(conn, new_id)), secret


def update_subscription(
    db: Database,
    subscription_id: int,
    *,
    url: str | None = None,
    topics: Sequence[str] | None = None,
    secret: str | None = None,
    active: bool | None = None,
) -> Subscription:
    """Change an API subscription; those of the workspace file change in the file."""
    values = _checked(url=url, topics=topics, secret=secret)
    if active is not None:
        values["active"] = active
    with db.write() as conn:
        _editable(_row(conn, subscription_id))
        if values:
            conn.execute(update(S).where(S.c.id == subscription_id).values(**values))
        return _subscription(_row(conn, subscription_id))


def delete_subscription(db: Database, subscription_id: int) -> None:
    """Remove an API subscription with its deliveries and their log (to keep a log, set
    it inactive instead)."""
    with db.write() as conn:
        _editable(_row(conn, subscription_id))
        mine = select(D.c.id).where(D.c.subscription_id == subscription_id)
        conn.execute(delete(A).where(A.c.delivery_id.in_(mine)))
        conn.execute(delete(D).where(D.c.subscription_id == subscription_id))
        conn.execute(delete(S).where(S.c.id == subscription_id))


def _checked(**given: Any) -> dict[str, Any]:
    """The values given (None: not given), checked; ValidationError names the field."""
    checks = {
        "name": _name,
        "url": check_url,
        "topics": lambda t: list(check_topics(list(t))),
        "secret": _secret,
    }
    values: dict[str, Any] = {}
    for key, value in given.items():
        if value is None:
            continue
        try:
            values[key] = checks[key](value)
        except ValueError as exc:
            raise ValidationError(str(exc), field=key) from None
    return values


def _name(value: str) -> str:
    if not SLUG.fullmatch(value):
        raise ValueError(f"{value!r}: use lowercase letters, digits, _ and - (at most 100)")
    return value


def _secret(value: str) -> str:
    if len(value) < MIN_SECRET or len(value) > 200:
        raise ValueError(f"a secret has {MIN_SECRET} to 200 characters")
    return value


def _editable(row: Mapping[str, Any]) -> None:
    if row["origin"] == CONFIG:
        raise Conflict(
            f"webhook subscription {row['name']!r} comes from the workspace file: change it "
            "there and run `leadflow webhooks load`"
        )


def _row(conn: Connection, subscription_id: int) -> Mapping[str, Any]:
    row = conn.execute(select(S).where(S.c.id == subscription_id)).mappings().first()
    if row is None:
        raise NotFound(f"no webhook subscription {subscription_id}")
    return dict(row)


def _subscription(row: Mapping[str, Any]) -> Subscription:
    return Subscription(
        id=row["id"],
        name=row["name"],
        url=row["url"],
        topics=tuple(row["topics"]),
        origin=row["origin"],
        active=row["active"],
        created_at=row["created_at"],
    )


# -- the workspace file -------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """What ``webhooks load`` changed, by subscription name."""

    added: tuple[str, ...]
    updated: tuple[str, ...]
    deactivated: tuple[str, ...]


def load_config(
    db: Database, clock: Clock, config: WebhooksConfig, *, environ: Mapping[str, str]
) -> Loaded:
    """Make the file's subscriptions the ``config`` ones: add the new, update the changed
    (secrets read from ``environ`` now), deactivate those no longer in the file. API ones
    stay; a file name that an API subscription holds is refused."""
    found = config.secrets(environ)
    now = clock.now()
    added: list[str] = []
    updated: list[str] = []
    with db.write() as conn:
        stored = {r["name"]: dict(r) for r in conn.execute(select(S)).mappings()}
        for spec in config.subscriptions:
            values = {"url": spec.url, "topics": list(spec.topics), "active": spec.active}
            values["secret"] = found[spec.name]
            old = stored.get(spec.name)
            if old is None:
                conn.execute(
                    insert(S).values(name=spec.name, origin=CONFIG, created_at=now, **values)
                )
                added.append(spec.name)
                continue
            if old["origin"] != CONFIG:
                raise Conflict(f"{spec.at}: an API subscription is named {spec.name!r} already")
            if any(old[k] != v for k, v in values.items()):
                conn.execute(update(S).where(S.c.id == old["id"]).values(**values))
                updated.append(spec.name)
        gone = _deactivate_missing(conn, stored, {s.name for s in config.subscriptions})
    return Loaded(tuple(added), tuple(updated), gone)


def _deactivate_missing(
    conn: Connection, stored: Mapping[str, Mapping[str, Any]], kept: set[str]
) -> tuple[str, ...]:
    # Kept as inactive, not deleted: their delivery log stays readable.
    gone = tuple(
        name
        for name, row in stored.items()
        if row["origin"] == CONFIG and row["active"] and name not in kept
    )
    if gone:
        conn.execute(update(S).where(S.c.name.in_(gone)).values(active=False))
    return gone


# -- the delivery log ---------------------------------------------------------------------


def list_deliveries(
    db: Database,
    *,
    status: str | None = None,
    subscription_id: int | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Deliveries, newest first: status, attempts, the last response code or error."""
    if status is not None and status not in STATUSES:
        raise ValidationError(
            f"unknown status {status!r}; use {', '.join(STATUSES)}", field="status"
        )
    query = _delivery_query().order_by(D.c.id.desc()).limit(max(1, min(limit, 1000)))
    if status is not None:
        query = query.where(D.c.status == status)
    if subscription_id is not None:
        query = query.where(D.c.subscription_id == subscription_id)
    if before_id is not None:
        query = query.where(D.c.id < before_id)
    with db.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def get_delivery(db: Database, delivery_id: int) -> dict[str, Any]:
    """One delivery with its attempts (oldest first) and the event's payload."""
    with db.read() as conn:
        row = conn.execute(_delivery_query(E.c.payload).where(D.c.id == delivery_id)).mappings()
        found = row.first()
        if found is None:
            raise NotFound(f"no webhook delivery {delivery_id}")
        attempts = conn.execute(
            select(A.c.at, A.c.status_code, A.c.error, A.c.duration_ms)
            .where(A.c.delivery_id == delivery_id)
            .order_by(A.c.id)
        ).mappings()
        return {**found, "attempt_log": [dict(a) for a in attempts]}


def _delivery_query(*extra: Any) -> Any:
    return (
        select(
            D.c.id,
            D.c.event_id,
            E.c.topic,
            S.c.name.label("subscription"),
            D.c.status,
            D.c.attempts,
            D.c.last_status_code,
            D.c.last_error,
            D.c.created_at,
            D.c.next_attempt_at,
            D.c.retry_until,
            D.c.delivered_at,
            *extra,
        )
        .join(E, E.c.id == D.c.event_id)
        .join(S, S.c.id == D.c.subscription_id)
    )


def resend(db: Database, clock: Clock, delivery_id: int) -> dict[str, Any]:
    """Queue a delivery again, whatever its status (delivered or dead too): due now, with a
    fresh 72-hour window; the worker posts it. Its attempt log is kept."""
    now = clock.now()
    with db.write() as conn:
        changed = conn.execute(
            update(D)
            .where(D.c.id == delivery_id)
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=now,
                retry_until=now + RETRY_WINDOW,
                delivered_at=None,
            )
        )
        if changed.rowcount != 1:
            raise NotFound(f"no webhook delivery {delivery_id}")
    return get_delivery(db, delivery_id)


def counts(db: Database) -> dict[str, int]:
    """Deliveries by status."""
    with db.read() as conn:
        rows = conn.execute(select(D.c.status, func.count()).group_by(D.c.status)).all()
    return {status: int(n) for status, n in rows}


@dataclass(frozen=True)
class Pruned:
    deliveries: int
    events: int


def prune(db: Database, clock: Clock, *, older_than: timedelta) -> Pruned:
    """Bound the outbox: remove deliveries settled (delivered or dead) before ``older_than``
    ago, with their attempts, and the events left with no delivery. Pending ones stay."""
    cutoff = clock.now() - older_than
    settled = select(D.c.id).where(D.c.status.in_(("delivered", "dead")), D.c.created_at < cutoff)
    with db.write() as conn:
        conn.execute(delete(A).where(A.c.delivery_id.in_(settled)))
        gone = conn.execute(delete(D).where(D.c.id.in_(settled))).rowcount
        orphans = select(E.c.id).where(
            E.c.created_at < cutoff, ~select(D.c.id).where(D.c.event_id == E.c.id).exists()
        )
        events = conn.execute(delete(E).where(E.c.id.in_(orphans))).rowcount
    return Pruned(gone, events)
