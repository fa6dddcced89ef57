"""API keys: create (the plaintext is returned once), list, revoke and verify.

Verification is on every request, so :class:`KeyVerifier` keeps the keys it has seen for a
few seconds: a key revoked in this process stops working at once, one revoked elsewhere (the
CLI, another worker) within ``ttl`` (5 s by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, RowMapping, insert, select, update

from leadflow.access.engine import NewKey, Principal, Role, generate_key, hash_key, looks_like_key
from leadflow.access.models import api_keys
from leadflow.clock import Clock
from leadflow.errors import Conflict, NotFound, ValidationError
from leadflow.routing.models import users
from leadflow.storage.database import Database


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    role: Role
    user_id: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    plaintext: str  # shown once; only its hash is stored


def create_key(
    db: Database, clock: Clock, *, name: str, role: str, user_id: str | None = None
) -> CreatedKey:
    """Make a key for ``role``; a sales key acts for ``user_id``, a user that must exist."""
    checked_role = _role(role)
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationError("must be 1 to 200 characters", field="name")
    if checked_role is Role.sales and not user_id:
        raise ValidationError("a sales key acts for a user: give --user", field="user")
    new = generate_key()
    with db.write() as conn:
        if user_id is not None:
            _check_user(conn, user_id)
        key_id = _insert(conn, clock.now(), name, checked_role, user_id, new)
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).mappings().one()
    return CreatedKey(key=_key(row), plaintext=new.plaintext)


def list_keys(db: Database) -> list[ApiKey]:
    with db.read() as conn:
        rows = conn.execute(select(api_keys).order_by(api_keys.c.id)).mappings().all()
    return [_key(row) for row in rows]


def revoke_key(db: Database, clock: Clock, *, prefix: str) -> ApiKey:
    """Revoke the key named by ``prefix``; revoking a revoked key is a conflict."""
    with db.write() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.prefix == prefix)).mappings().first()
        if row is None:
            raise NotFound(f"no API key with prefix {prefix!r}")
        if row["revoked_at"] is not None:
            raise Conflict(f"API key {prefix} was already revoked at {row['revoked_at']}")
        conn.execute(
            update(api_keys).where(api_keys.c.id == row["id"]).values(revoked_at=clock.now())
        )
        row = conn.execute(select(api_keys).where(api_keys.c.id == row["id"])).mappings().one()
    return _key(row)


def find_principal(db: Database, plaintext: str) -> Principal | None:
    """Who a key speaks for, or None for a key that is unknown or revoked."""
    if not looks_like_key(plaintext):
        return None
    query = select(api_keys.c.id, api_keys.c.prefix, api_keys.c.role, api_keys.c.user_id).where(
        api_keys.c.secret_hash == hash_key(plaintext), api_keys.c.revoked_at.is_(None)
    )
    with db.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return Principal(key_id=row.id, prefix=row.prefix, role=Role(row.role), user_id=row.user_id)


class KeyVerifier:
    """A per-process cache in front of :func:`find_principal` (valid keys only, bounded)."""

    def __init__(
        self, db: Database, clock: Clock, *, ttl: timedelta = timedelta(seconds=5)
    ) -> None:
        self._db = db
        self._clock = clock
        self._ttl = ttl
        self._seen: dict[str, tuple[Principal, datetime]] = {}

    def cached(self, plaintext: str) -> Principal | None:
        """The cached principal for a key seen less than ``ttl`` ago; no database work."""
        hit = self._seen.get(plaintext)
        if hit is None or hit[1] <= self._clock.now():
            return None
        return hit[0]

    def verify(self, plaintext: str) -> Principal | None:
        principal = self.cached(plaintext)
        if principal is not None:
            return principal
        principal = find_principal(self._db, plaintext)
        if principal is not None:
            if len(self._seen) >= 10_000:  # invalid keys are never cached, so this is enough
                self._seen.clear()
            self._seen[plaintext] = (principal, self._clock.now() + self._ttl)
        return principal

    def forget(self) -> None:
        """Drop every cached key (after a revocation in this process)."""
        self._seen.clear()


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        message = f"{role!r} is not a role; use one of {allowed}"
        raise ValidationError(message, field="role") from None


def _check_user(conn: Connection, user_id: str) -> None:
    if conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is None:
        raise NotFound(f"user: no user {user_id!r} (users come from routing.yaml)")


def _insert(
    conn: Connection, now: datetime, name: str, role: Role, user_id: str | None, new: NewKey
) -> int:
    values = {
        "name": name,
        "prefix": new.prefix,
        "secret_hash": new.secret_hash,
        "role": role.value,
        "user_id": user_id,
        "created_at": now,
    }
    key_id: int = conn.execute(
        insert(api_keys).values(**values).returning(api_keys.c.id)
    ).scalar_one()
    return key_id


def _key(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        role=Role(row["role"]),
        user_id=row["user_id"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )
