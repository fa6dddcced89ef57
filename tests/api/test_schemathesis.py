"""Schemathesis against the app's own OpenAPI document: for every operation, generated
requests (valid and invalid) never get a 500, and every response conforms to the document
(status, content type, body schema). A bounded number of examples keeps CI fast."""

from __future__ import annotations

from types import SimpleNamespace

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from leadflow.api.app import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# The document does not depend on the workspace: build it from an app with none (no I/O).
DOCUMENT = create_app(SimpleNamespace(db=None, clock=None)).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
# Random examples only: the coverage phase sends every boundary case the document allows
# (hundreds per operation), which takes minutes on PostgreSQL.
schema.config.phases.update(phases=["examples", "fuzzing"])


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_500_and_responses_match_the_document(case, admin):
    kwargs = case.as_transport_kwargs(base_url="http://api.test")
    response = admin.request(kwargs.pop("method"), kwargs.pop("url"), **_httpx_kwargs(kwargs))

    case.validate_response(response, checks=CHECKS)


def _httpx_kwargs(kwargs):
    """requests-style arguments (what schemathesis serialises to) as httpx takes them."""
    out = {k: kwargs[k] for k in ("params", "json", "files") if k in kwargs}
    # Generated credentials would make nearly every request a 401: the admin key is sent
    # instead, so the operations themselves are exercised (401s have their own tests).
    headers = {
        k: v
        for k, v in (kwargs.get("headers") or {}).items()
        if k.lower() not in ("authorization", "x-api-key")
    }
    if kwargs.get("cookies"):
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in kwargs["cookies"].items())
    out["headers"] = headers
    if "data" in kwargs:
        data = kwargs["data"]
        out["content" if isinstance(data, bytes | str) else "data"] = data
    return out
