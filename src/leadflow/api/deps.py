"""Dependencies shared by the routers, as ``Annotated`` aliases that keep signatures short.

The caller comes from ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. A missing,
unknown or revoked key is a 401; a key whose role may not do something is a 403
(:func:`require`). Everything here is ``async`` and does no blocking work on a cached key, so
the hot paths (``POST /events``) spend no thread hop on authentication.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from starlette.concurrency import run_in_threadpool

from leadflow.access.engine import Principal, Role
from leadflow.access.service import KeyVerifier
from leadflow.clock import Clock
from leadflow.errors import Forbidden, Unauthorized
from leadflow.storage.database import Database
from leadflow.workspace import Workspace


async def get_workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


# async: FastAPI runs a plain `def` dependency in the thread pool, a hop per request.
WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
DbDep = Annotated[Database, Depends(get_db)]
ClockDep = Annotated[Clock, Depends(get_clock)]


async def current_principal(request: Request) -> Principal:
    """The key's principal; 401 when there is no key or it is not (or no longer) valid."""
    key = _key_of(request)
    if not key:
        raise Unauthorized("an API key is required: send `Authorization: Bearer <key>`")
    verifier: KeyVerifier = request.app.state.keys
    principal = verifier.cached(key)
    if principal is None:
        principal = await run_in_threadpool(verifier.verify, key)
    if principal is None:
        raise Unauthorized("the API key is not valid (unknown or revoked)")
    return principal


def _key_of(request: Request) -> str | None:
    # Read here rather than through FastAPI's security classes: every dependency is a node
    # FastAPI solves per request, and this runs on every call of the hot POST /events.
    return key_from(request.headers.get("authorization"), request.headers.get("x-api-key"))


def key_from(authorization: str | None, api_key: str | None) -> str | None:
    """The key a request carries: a bearer token first, else ``X-API-Key``."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return api_key or None


class RoleKey(SecurityBase):
    """A dependency that lets only keys of some roles through (403 for the others).

    A ``SecurityBase``, so that FastAPI declares the operation as needing a key in the
    OpenAPI document; it authenticates itself in one step, without sub-dependencies.
    """

    def __init__(self, *roles: Role) -> None:
        self.model = HTTPBearerModel(description="An API key: `Authorization: Bearer lf_...`")
        self.scheme_name = "bearer"
        self.allowed = frozenset(roles)
        self.names = ", ".join(sorted(r.value for r in self.allowed))

    async def __call__(self, request: Request) -> Principal:
        principal = await current_principal(request)
        if principal.role not in self.allowed:
            raise Forbidden(f"a {principal.role.value} key may not do this (needs: {self.names})")
        return principal


def require(*roles: Role) -> RoleKey:
    """The dependency for an endpoint open to keys of ``roles``."""
    return RoleKey(*roles)


# Also accepted, as an alternative to the bearer scheme (added to the OpenAPI document).
API_KEY_SCHEME = {"type": "apiKey", "in": "header", "name": "X-API-Key"}


ANY_ROLE = require(Role.admin, Role.marketing, Role.sales)
AnyRole = Annotated[Principal, Depends(ANY_ROLE)]
PrincipalDep = AnyRole  # any valid key
Staff = Annotated[Principal, Depends(require(Role.admin, Role.marketing))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
