"""Dependencies shared by the routers, as ``Annotated`` aliases that keep signatures short.

The caller comes from ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. A missing,
unknown or revoked key is a 401; a key whose role may not do something is a 403
(:func:`require`). Everything here is ``async`` and does no blocking work on a cached key, so
the hot paths (``POST /events``) spend no thread hop on authentication.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from leadflow.access.engine import Principal, Role
from leadflow.access.service import KeyVerifier
from leadflow.clock import Clock
from leadflow.errors import Forbidden, Unauthorized
from leadflow.storage.database import Database
from leadflow.workspace import Workspace

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer lf_...`")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")


def get_workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
DbDep = Annotated[Database, Depends(get_db)]
ClockDep = Annotated[Clock, Depends(get_clock)]


async def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The key's principal; 401 when there is no key or it is not (or no longer) valid."""
    key = bearer.credentials if bearer is not None else api_key
    if not key:
        raise Unauthorized("an API key is required: send `Authorization: Bearer <key>`")
    verifier: KeyVerifier = request.app.state.keys
    principal = verifier.cached(key)
    if principal is None:
        principal = await run_in_threadpool(verifier.verify, key)
    if principal is None:
        raise Unauthorized("the API key is not valid (unknown or revoked)")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only keys of ``roles`` through (403 for the others)."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(r.value for r in allowed))

    async def check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"a {principal.role.value} key may not do this (needs: {names})")
        return principal

    return check


AnyRole = Annotated[Principal, Depends(require(Role.admin, Role.marketing, Role.sales))]
Staff = Annotated[Principal, Depends(require(Role.admin, Role.marketing))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
