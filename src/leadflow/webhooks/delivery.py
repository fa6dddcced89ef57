"""The delivery worker: claim due deliveries, post each one signed, log the attempt, and mark
it delivered or schedule the next try (dead once its 72-hour window is over).

Claiming is a short write transaction that pushes the claimed deliveries' next attempt a
lease ahead, so no other worker takes them while they are being posted; the posts happen
outside any transaction. On PostgreSQL the claim reads with ``FOR UPDATE SKIP LOCKED``, so
workers running at once split the due deliveries between them; on SQLite the one serialised
writer makes claims one after another. A worker that dies mid-post leaves its claim to
expire and the delivery is posted again: at least once, never lost (receivers drop
duplicates by the event id).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, insert, select, update

from leadflow.clock import Clock
from leadflow.storage.database import Database
from leadflow.webhooks.engine import encode_body, next_attempt, request_headers
from leadflow.webhooks.models import (
    webhook_attempts,
    webhook_deliveries,
    webhook_events,
    webhook_subscriptions,
)

D = webhook_deliveries
E = webhook_events
S = webhook_subscriptions
DEFAULT_TIMEOUT = 10.0  # seconds per post
CLAIM_BATCH = 10
_DETAIL_CHARS = 200


@dataclass(frozen=True)
class _Job:
    """A claimed delivery with what posting it needs."""

    id: int
    attempts: int  # including this one
    lease_until: datetime
    retry_until: datetime
    event_id: int
    topic: str
    payload: dict[str, Any]
    created_at: datetime
    url: str
    secret: str


@dataclass(frozen=True)
class Outcome:
    """One attempt: the answer's status code, or None and the error."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class Pass:
    """What one run of :func:`deliver_due` did."""

    delivered: int = 0
    retrying: int = 0
    dead: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.dead


@dataclass(frozen=True)
class Worker:
    """How a worker posts: the HTTP client, the per-post timeout, how many posts of a claimed
    batch run at once (threads: one slow receiver does not hold up the others), the jitter
    source and the timer measuring each post."""

    client: httpx.Client
    timeout: float = DEFAULT_TIMEOUT
    concurrency: int = 4
    jitter: Callable[[], float] = random.random
    timer: Callable[[], float] = time.perf_counter


def deliver_due(db: Database, clock: Clock, worker: Worker, *, limit: int = 100) -> Pass:
    """Post up to ``limit`` due deliveries, claimed a few at a time."""
    done = Pass()
    while done.attempted < limit:
        jobs = claim(
            db, now=clock.now(), count=min(CLAIM_BATCH, limit - done.attempted), worker=worker
        )
        if not jobs:
            break
        with ThreadPoolExecutor(max_workers=max(1, worker.concurrency)) as pool:
            outcomes = list(pool.map(lambda job: post(worker, job, clock), jobs))
        for job, outcome in zip(jobs, outcomes, strict=True):
            status = record(db, job, outcome, now=clock.now(), jitter=worker.jitter())
            done.delivered += status == "delivered"
            done.retrying += status == "pending"
            done.dead += status == "dead"
    return done


def lease(worker: Worker, count: int) -> timedelta:
    """Long enough to post ``count`` deliveries that all time out, with a margin."""
    rounds = -(-count // max(1, worker.concurrency))
    return timedelta(seconds=worker.timeout * rounds + 60)


def claim(db: Database, *, now: datetime, count: int, worker: Worker) -> list[_Job]:
    """Take up to ``count`` due deliveries (of active subscriptions), oldest due first."""
    until = now + lease(worker, count)
    with db.write() as conn:
        due = (
            select(D.c.id)
            .where(
                D.c.status == "pending",
                D.c.next_attempt_at <= now,
                D.c.subscription_id.in_(select(S.c.id).where(S.c.active)),
            )
            .order_by(D.c.next_attempt_at, D.c.id)
            .limit(count)
        )
        if db.is_postgresql:
            due = due.with_for_update(skip_locked=True)
        ids = list(conn.execute(due).scalars())
        if not ids:
            return []
        conn.execute(
            update(D)
            .where(D.c.id.in_(ids))
            .values(next_attempt_at=until, attempts=D.c.attempts + 1)
        )
        return _jobs(conn, ids)


def _jobs(conn: Connection, ids: Sequence[int]) -> list[_Job]:
    rows = conn.execute(
        select(
            D.c.id,
            D.c.attempts,
            D.c.next_attempt_at,
            D.c.retry_until,
            E.c.id.label("event_id"),
            E.c.topic,
            E.c.payload,
            E.c.created_at,
            S.c.url,
            S.c.secret,
        )
        .join(E, E.c.id == D.c.event_id)
        .join(S, S.c.id == D.c.subscription_id)
        .where(D.c.id.in_(ids))
        .order_by(D.c.next_attempt_at, D.c.id)
    )
    return [
        _Job(r.id, r.attempts, r.next_attempt_at, r.retry_until, r.event_id, r.topic,
             r.payload, r.created_at, r.url, r.secret)
        for r in rows
    ]  # fmt: skip


def post(worker: Worker, job: _Job, clock: Clock) -> Outcome:
    """One signed POST. Redirects are not followed: they could carry the body elsewhere."""
    body = encode_body(job.event_id, job.topic, job.created_at, job.payload)
    headers = request_headers(
        job.secret,
        body,
        timestamp=int(clock.now().timestamp()),
        event_id=job.event_id,
        topic=job.topic,
        delivery_id=job.id,
    )
    started = worker.timer()
    try:
        response = worker.client.post(
            job.url, content=body, headers=headers, timeout=worker.timeout, follow_redirects=False
        )
    except httpx.HTTPError as exc:  # connect, timeout, protocol, an unreadable answer
        return Outcome(None, _describe_error(exc), _ms(worker, started))
    error = None if response.is_success else _describe(response)
    return Outcome(response.status_code, error, _ms(worker, started))


def record(db: Database, job: _Job, outcome: Outcome, *, now: datetime, jitter: float) -> str:
    """Log the attempt and settle the delivery; its status after. Only the claim still
    holding the delivery settles it (a resend or a later claim has moved it on)."""
    values: dict[str, Any] = {"last_status_code": outcome.status_code, "last_error": outcome.error}
    if outcome.ok:
        values.update(status="delivered", delivered_at=now, next_attempt_at=None)
    else:
        retry = next_attempt(job.attempts, now=now, retry_until=job.retry_until, jitter=jitter)
        values.update(status="pending" if retry else "dead", next_attempt_at=retry)
    with db.write() as conn:
        conn.execute(
            insert(webhook_attempts).values(
                delivery_id=job.id,
                at=now,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        conn.execute(
            update(D)
            .where(
                D.c.id == job.id,
                D.c.attempts == job.attempts,
                D.c.next_attempt_at == job.lease_until,
            )
            .values(**values)
        )
    return str(values["status"])


def _ms(worker: Worker, started: float) -> int:
    return max(0, round((worker.timer() - started) * 1000))


def _describe(response: httpx.Response) -> str:
    detail = f"HTTP {response.status_code}"
    text = response.text.strip()
    return f"{detail}: {text[:_DETAIL_CHARS]}" if text else detail


def _describe_error(exc: httpx.HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
