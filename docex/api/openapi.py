"""The served OpenAPI document, made to say what the node really answers.

FastAPI documents its own 422 shape (``{"detail": [...]}``) and only the statuses an endpoint
lists. docex answers every error as ``{"error", "detail"}`` (``ErrorBody``), and some refusals
come from the machinery every operation shares rather than from the endpoint: a body that is
not what the operation takes (400, 413, 415, 422), credentials (401), a database that is down
(503). Those are added here once, for every operation they can happen to, so a client generated
from the document knows every answer it can get.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from docex.api.errors import ERROR_TEXTS, ErrorBody

_ERROR_SCHEMA = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
_BODY_ERRORS = (400, 413, 415, 422)
_ALWAYS = (503,)
_PUBLIC = frozenset({"/api/v1/auth/token", "/api/v1/node"})


def _error(status: int) -> dict[str, Any]:
    return {"description": ERROR_TEXTS[status], "content": _ERROR_SCHEMA}


def _shared_errors(path: str, operation: dict[str, Any]) -> list[int]:
    statuses: list[int] = list(_ALWAYS)
    if "requestBody" in operation:
        statuses += _BODY_ERRORS
    if operation.get("parameters"):
        statuses.append(422)
    if operation.get("security") or (path.startswith("/api/v1/") and path not in _PUBLIC):
        statuses.append(401)
    return statuses


def truthful(generate: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Wrap FastAPI's ``app.openapi`` so the document it returns lists the real error answers."""
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if "schema" in cache:
            return cache["schema"]  # type: ignore[no-any-return]
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorBody"] = ErrorBody.model_json_schema()
        for path, item in schema.get("paths", {}).items():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                for status in _shared_errors(path, operation):
                    responses.setdefault(str(status), _error(status))
                if "422" in responses:
                    responses["422"] = {
                        "description": "Well-formed but invalid (error: invalid_request, ...)",
                        "content": _ERROR_SCHEMA,
                    }
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        cache["schema"] = schema
        return schema

    return openapi
