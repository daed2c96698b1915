"""The served OpenAPI document describes the whole API, with the error responses each endpoint can
return in the shape they really have (API.md: ``{"error", "detail"}``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from docex.api.deps import get_actor, page_cursor

UNDOCUMENTED_ERRORS = {"/healthz", "/readyz", "/metrics", "/.well-known/jwks.json", "/api/v1/node"}
ERROR_BODY = "#/components/schemas/ErrorBody"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


@dataclass(frozen=True)
class Served:
    path: str  # as served, with the prefixes of the routers it was included through
    methods: frozenset[str]
    route: APIRoute
    in_schema: bool


def served_routes(client: TestClient) -> list[Served]:
    """Every API route of the app. FastAPI >= 0.130 keeps included routers as such in
    ``app.routes``; ``iter_route_contexts`` walks them with their effective path."""
    routes = client.app.routes  # type: ignore[attr-defined]
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI copies included routes into app.routes
        return [
            Served(r.path, frozenset(r.methods or ()), r, r.include_in_schema)
            for r in routes
            if isinstance(r, APIRoute)
        ]
    return [
        Served(str(c.path), frozenset(c.methods or ()), c.original_route, bool(c.include_in_schema))
        for c in iter_route_contexts(routes)
        if isinstance(c.original_route, APIRoute)
    ]


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def calls(dependant: Dependant) -> set[Callable[..., Any]]:
    found: set[Callable[..., Any]] = set()
    for sub in dependant.dependencies:
        if sub.call is not None:
            found.add(sub.call)
        found |= calls(sub)
    return found


def all_params(dependant: Dependant) -> list[Any]:
    params = [*dependant.query_params, *dependant.body_params, *dependant.header_params]
    for sub in dependant.dependencies:
        params += all_params(sub)
    return params


def error_schema(operation: dict[str, Any], status: str) -> str | None:
    response = operation["responses"].get(status)
    if response is None:
        return None
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return str(schema.get("$ref", schema))


def test_every_api_route_is_in_the_openapi_document(
    client: TestClient, spec: dict[str, Any]
) -> None:
    routes = [r for r in served_routes(client) if r.path.startswith("/api/v1/")]
    assert len(routes) >= 15
    for route in routes:
        assert route.in_schema, route.path
        assert route.path in spec["paths"], route.path
        for method in route.methods:
            assert method.lower() in spec["paths"][route.path], f"{method} {route.path}"


def test_the_openapi_document_describes_no_route_that_is_not_served(
    client: TestClient, spec: dict[str, Any]
) -> None:
    served = {(r.path, m.lower()) for r in served_routes(client) for m in r.methods}
    assert {(path, method) for path, method, _ in operations(spec)} <= served


def test_error_body_schema_is_error_and_detail_strings(spec: dict[str, Any]) -> None:
    body = spec["components"]["schemas"]["ErrorBody"]
    assert body["required"] == ["error", "detail"]
    assert body["properties"]["error"]["type"] == "string"
    assert body["properties"]["detail"]["type"] == "string"


def test_every_operation_documents_a_4xx_with_the_error_body(spec: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for path, method, operation in operations(spec)
        if path not in UNDOCUMENTED_ERRORS
        and not any(
            status.startswith("4") and error_schema(operation, status) == ERROR_BODY
            for status in operation["responses"]
        )
    ]
    assert missing == []


def test_every_documented_error_response_has_the_shape_errors_really_have(
    spec: dict[str, Any],
) -> None:
    """A 4xx documented as FastAPI's HTTPValidationError would tell client generators to expect
    ``{"detail": [...]}``; docex answers ``{"error": "invalid_request", "detail": "..."}``."""
    wrong = [
        f"{method.upper()} {path} {status}: {error_schema(operation, status)}"
        for path, method, operation in operations(spec)
        for status in operation["responses"]
        if status[0] in "45"
        and path not in UNDOCUMENTED_ERRORS
        and error_schema(operation, status) != ERROR_BODY
    ]
    assert wrong == []


def test_every_authenticated_operation_documents_401(
    client: TestClient, spec: dict[str, Any]
) -> None:
    authenticated = [r for r in served_routes(client) if get_actor in calls(r.route.dependant)]
    assert len(authenticated) >= 12
    for route in authenticated:
        for method in route.methods:
            operation = spec["paths"][route.path][method.lower()]
            assert error_schema(operation, "401") == ERROR_BODY, f"{method} {route.path}"


def test_every_operation_with_validated_input_documents_422(
    client: TestClient, spec: dict[str, Any]
) -> None:
    validated = [r for r in served_routes(client) if r.in_schema and all_params(r.route.dependant)]
    assert validated
    for route in validated:
        for method in route.methods:
            operation = spec["paths"][route.path][method.lower()]
            assert "422" in operation["responses"], f"{method} {route.path}"


def test_every_paginated_operation_documents_400_for_a_bad_cursor(
    client: TestClient, spec: dict[str, Any]
) -> None:
    paginated = [r for r in served_routes(client) if page_cursor in calls(r.route.dependant)]
    assert {r.path for r in paginated} >= {"/api/v1/inbox", "/api/v1/outbox", "/api/v1/agencies"}
    for route in paginated:
        for method in route.methods:
            operation = spec["paths"][route.path][method.lower()]
            assert error_schema(operation, "400") == ERROR_BODY, f"{method} {route.path}"


def test_document_submission_documents_its_multipart_parts(spec: dict[str, Any]) -> None:
    operation = spec["paths"]["/api/v1/documents"]["post"]
    body = operation["requestBody"]
    assert body["required"] is True
    form = body["content"]["multipart/form-data"]
    assert form["schema"] == {"$ref": "#/components/schemas/DocumentSend"}
    schema = spec["components"]["schemas"]["DocumentSend"]
    assert set(schema["properties"]) == {"envelope", "main", "attachment"}
    assert schema["properties"]["envelope"]["$ref"] == "#/components/schemas/Envelope"
    envelope = spec["components"]["schemas"]["Envelope"]
    assert {"recipients", "subject"} <= set(envelope["required"])
    assert envelope["additionalProperties"] is False
    assert set(schema["required"]) == {"envelope", "main"}
    assert schema["properties"]["main"]["format"] == "binary"
    assert schema["properties"]["attachment"]["type"] == "array"
    assert schema["properties"]["attachment"]["items"]["format"] == "binary"
    assert form["encoding"]["envelope"]["contentType"] == "application/json"
    assert form["encoding"]["main"]["contentType"] == "application/pdf"
    for status in ("400", "401", "403", "409", "413", "415", "422"):
        assert error_schema(operation, status) == ERROR_BODY, status
    assert {"200", "201"} <= set(operation["responses"])


def test_every_operation_has_a_summary_or_description(spec: dict[str, Any]) -> None:
    bare = [
        f"{method.upper()} {path}"
        for path, method, operation in operations(spec)
        if not (operation.get("description") or "").strip()
    ]
    assert bare == []
