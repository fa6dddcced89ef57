"""The ``Idempotency-Key`` header, as Stripe has it.

The first request with a key does its work and its response (status, content type, body)
is kept with a hash of the request, in the same transaction as the work. A retry with the
same key and the same request gets that response again and does nothing; the same key with
another request is refused (409). Keys are kept 24 hours, then purged.

Concurrent duplicates: on SQLite writes are serialised, so the second sees the first's
record. On PostgreSQL both may run the work, but only one can insert the record (the
(scope, key) index is unique): the other's transaction, work included, is rolled back and
it answers with the winner's response. Work that fails (an error raised) keeps nothing,
so a retry runs it again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select
from sqlalchemy import exc as sa_exc

from leadflow.access.models import idempotency_records
from leadflow.clock import Clock
from leadflow.errors import Conflict, ValidationError
from leadflow.storage.database import Database

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces: as Stripe accepts
PURGE_EVERY = timedelta(minutes=10)


class KeyReused(Conflict):
    """The key was used with another request (a different body, path or method)."""

    code = "idempotency_key_reused"


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    content_type: str
    body: bytes  # for a redirect (3xx): the Location it sends to
    replayed: bool = False


def request_hash(method: str, path: str, content_type: str, body: bytes) -> str:
    """What makes two requests "the same" for a key."""
    digest = hashlib.sha256()
    for part in (method.upper(), path, content_type.split(";")[0].strip().lower()):
        digest.update(part.encode("utf-8") + b"\0")
    digest.update(body)
    return digest.hexdigest()


def check_key(key: str) -> str:
    if not KEY.fullmatch(key):
        raise ValidationError("use 1 to 255 printable ASCII characters, no spaces", field=HEADER)
    return key


class Idempotency:
    """Runs work at most once per (scope, key). One per process (it paces the purge)."""

    def __init__(self, db: Database, clock: Clock, *, ttl: timedelta = TTL) -> None:
        self.db = db
        self.clock = clock
        self.ttl = ttl
        self._next_purge: datetime | None = None

    def run(
        self,
        *,
        scope: str,
        key: str,
        request: str,
        work: Callable[[Connection], StoredResponse],
    ) -> StoredResponse:
        """``work(conn)`` in one write transaction, unless (scope, key) already answered.

        ``request`` is :func:`request_hash` of the request. Raises :class:`KeyReused` when
        the key was used with another request.
        """
        check_key(key)
        now = self.clock.now()
        self._purge(now)
        try:
            with self.db.write() as conn:
                kept = _kept(conn, scope, key, now)
                if kept is not None:
                    return _replay(kept, request, key)
                response = work(conn)
                _keep(conn, scope, key, request, response, now=now, until=now + self.ttl)
                return response
        except sa_exc.IntegrityError:
            # A concurrent duplicate kept its response first; this transaction (its work
            # too) was rolled back. Answer as a replay would.
            with self.db.read() as conn:
                kept = _kept(conn, scope, key, now)
            if kept is None:
                raise
            return _replay(kept, request, key)

    def _purge(self, now: datetime) -> None:
        if self._next_purge is not None and now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY
        purge_expired(self.db, now)


@dataclass(frozen=True)
class _Kept:
    request_hash: str
    response: StoredResponse


def _kept(conn: Connection, scope: str, key: str, now: datetime) -> _Kept | None:
    row = conn.execute(
        select(
            idempotency_records.c.request_hash,
            idempotency_records.c.status_code,
            idempotency_records.c.content_type,
            idempotency_records.c.body,
        ).where(
            idempotency_records.c.scope == scope,
            idempotency_records.c.key == key,
            idempotency_records.c.expires_at > now,
        )
    ).first()
    if row is None:
        return None
    return _Kept(row[0], StoredResponse(row[1], row[2], bytes(row[3]), replayed=True))


def _replay(kept: _Kept, request: str, key: str) -> StoredResponse:
    if kept.request_hash != request:
        raise KeyReused(
            f"{HEADER} {key!r} was already used with another request; "
            "use a new key for a new request"
        )
    return kept.response


def _keep(
    conn: Connection,
    scope: str,
    key: str,
    request: str,
    response: StoredResponse,
    *,
    now: datetime,
    until: datetime,
) -> None:
    # An expired record of the same key may still be there (purges are paced): it goes.
    conn.execute(
        delete(idempotency_records).where(
            idempotency_records.c.scope == scope, idempotency_records.c.key == key
        )
    )
    conn.execute(
        idempotency_records.insert().values(
            scope=scope,
            key=key,
            request_hash=request,
            status_code=response.status_code,
            content_type=response.content_type,
            body=response.body,
            created_at=now,
            expires_at=until,
        )
    )


def purge_expired(db: Database, now: datetime) -> int:
    """Forget responses older than their time to live; how many went."""
    with db.write() as conn:
        result = conn.execute(
            delete(idempotency_records).where(idempotency_records.c.expires_at <= now)
        )
        return int(result.rowcount)
