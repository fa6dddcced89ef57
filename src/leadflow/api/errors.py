"""Every error as ``application/problem+json`` (RFC 9457), with leadflow's stable ``code``.

The body has ``type``, ``title``, ``status``, ``detail`` and ``code``; a validation problem
also lists each field error with its location (``errors: [{loc, msg, type}]``). Nothing a
caller sends may end in a 500: bad input is mapped here, and anything unexpected is logged
and answered with a generic 500 that leaks nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadflow import errors as lf

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger("leadflow.api")

# Most specific first: the first class an error is an instance of gives its status.
_STATUS: tuple[tuple[type[lf.LeadflowError], int], ...] = (
    (lf.Unauthorized, 401),
    (lf.Forbidden, 403),
    (lf.NotFound, 404),
    (lf.Conflict, 409),
    (lf.ContactErased, 410),  # the contact is an erased person's tombstone, for good
    (lf.PayloadTooLarge, 413),
    (lf.UnsupportedMediaType, 415),
    (lf.ValidationError, 422),
    (lf.ConfigError, 422),  # conditions given in a request (`where`) are ConfigErrors
    (lf.RateLimited, 429),
    (lf.DatabaseLocked, 503),
    (lf.DatabaseUnavailable, 503),
    (lf.DatabaseReadOnly, 503),
    (lf.SchemaOutOfDate, 503),
)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


class FieldProblem(BaseModel):
    loc: list[str]
    msg: str
    type: str


class Problem(BaseModel):
    """The body of every error response (RFC 9457 plus ``code`` and field ``errors``)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldProblem] | None = None


def status_for(error: lf.LeadflowError) -> int:
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 500


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response; ``type`` is a stable URI per code (not meant to resolve)."""
    body: dict[str, Any] = {
        "type": f"urn:leadflow:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _leadflow_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, lf.LeadflowError)
    status = status_for(exc)
    if status == 500:
        _log.error("unexpected leadflow error", exc_info=exc)
        return problem(500, "internal", "the server could not complete the request")
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    field = getattr(exc, "field", None) or getattr(exc, "where", None)
    errors = [{"loc": [field], "msg": exc.message, "type": exc.code}] if field else None
    return problem(status, exc.code, exc.message, errors=errors, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    if any(e.get("type") == "json_invalid" for e in raw):
        where = next(e for e in raw if e.get("type") == "json_invalid")
        reason = (where.get("ctx") or {}).get("error", "invalid JSON")
        detail = f"the body is not valid JSON: {reason} at position {where['loc'][-1]}"
        return problem(400, "malformed_json", detail)
    # FastAPI hands a body it did not parse as JSON (another content type) to validation as
    # bytes: that is the wrong content type, not a wrong field.
    if any(e["loc"][:1] == ("body",) and isinstance(e.get("input"), bytes) for e in raw):
        return problem(415, "unsupported_media_type", "send the body as application/json")
    fields = [_field_error(e) for e in raw]
    detail = "; ".join(f"{'.'.join(map(str, f['loc']))}: {f['msg']}" for f in fields)
    return problem(422, "invalid", detail, errors=fields)


def _field_error(error: Any) -> dict[str, Any]:
    return {"loc": [str(part) for part in error["loc"]], "msg": error["msg"], "type": error["type"]}


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = "no such resource"
    return problem(exc.status_code, code, detail, headers=dict(exc.headers or {}))


async def _refused_by_database(_request: Request, exc: Exception) -> JSONResponse:
    # A safety net: the edges validate what they can, and the transaction was rolled back,
    # so nothing was stored; the database's own message is logged, not shown.
    _log.warning("the database refused a value", exc_info=exc)
    if isinstance(exc, sa_exc.IntegrityError):
        return problem(409, "conflict", "the request conflicts with stored data; retry it")
    return problem(422, "invalid", "a value in the request cannot be stored")


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    _log.error("unhandled error", exc_info=exc)
    return problem(500, "internal", "the server could not complete the request")


def install(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""
    app.add_exception_handler(lf.LeadflowError, _leadflow_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sa_exc.DataError, _refused_by_database)
    app.add_exception_handler(sa_exc.IntegrityError, _refused_by_database)
    app.add_exception_handler(OverflowError, _refused_by_database)  # an int SQLite cannot bind
    app.add_exception_handler(Exception, _unexpected)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": HTTPStatus(status).phrase, "content": {PROBLEM_JSON: {}}}
    for status in (400, 401, 403, 404, 409, 410, 413, 415, 422, 429, 503)
}
