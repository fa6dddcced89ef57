"""The app's foundation: problem+json errors, authentication, OpenAPI and health."""

from __future__ import annotations

PROBLEM = "application/problem+json"


def test_health_answers_without_a_key(anon):
    response = anon.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_openapi_document_and_docs_are_served(anon):
    schema = anon.get("/openapi.json").json()

    assert schema["info"]["title"] == "leadflow"
    assert "Problem" in schema["components"]["schemas"]
    assert anon.get("/docs").status_code == 200


def test_unknown_route_is_a_problem_404(anon):
    response = anon.get("/no/such/thing")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "not_found"
    assert body["status"] == 404
    assert body["type"] == "urn:leadflow:problem:not_found"


def test_wrong_method_is_a_problem_405(anon):
    response = anon.delete("/health")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "GET" in response.headers["allow"]
