"""The one place where failures become HTTP answers: ``{"error": code, "detail": text}``.

Every refusal (4xx) is also audited and counted in ``docex_refusals``: a refusal of an
authenticated actor is one event, written in a transaction of its own (the change it refused was
rolled back); a refusal of an anonymous request is counted per client address, error code and
time window (``docex.audit.refusals``), so a flood cannot grow the log. Unexpected exceptions
become a 500 with no detail; database, blob store and signing-key outages become 503 with
Retry-After.

The handlers run on the event loop: the audit write goes to a worker thread, never blocking the
loop (``docex.db`` refuses a session opened there).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from docex.api.middleware import route_template
from docex.audit import events
from docex.auth.policy import Actor
from docex.errors import (
    DocexError,
    NotFound,
    ServiceUnavailable,
    SignatureRejected,
    Unprocessable,
    UnsupportedMedia,
)
from docex.kit.proxies import client_address
from docex.node import Node
from docex.signing.errors import FailureKind, SigningServiceError
from docex.storage.base import BlobStoreUnavailable

log = logging.getLogger(__name__)

# What a face other than the API answers a refusal with (None: the JSON error).
ErrorPage = Callable[[Request, int, str, str, "dict[str, str] | None"], Awaitable[Response | None]]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


class ErrorBody(BaseModel):
    error: str
    detail: str


_SIGNING_ERRORS: dict[FailureKind, type[DocexError]] = {
    "refused": Unprocessable,
    "not_found": NotFound,
    "unsupported": UnsupportedMedia,
    "unavailable": ServiceUnavailable,
}


def _route(request: Request) -> str:
    return route_template(request.scope)


async def _refuse(
    request: Request, status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    node: Node = request.app.state.node
    actor: Actor | None = getattr(request.state, "actor", None)
    node.metrics.refusals.labels(code, _route(request)).inc()
    client = client_address(request.scope, node.proxies)
    path = request.url.path
    first = actor is None and node.refusals.count(
        address=client, code=code, status=status, method=request.method, path=path
    )
    if actor is not None or first:
        at = node.clock.now()
        # An anonymous refusal audited at once is the first of its window (docex.audit.refusals).
        anonymous: dict[str, Any] = {} if actor else {"count": 1}

        def record(session: Session) -> None:
            events.record(
                session,
                events.REQUEST_REFUSED,
                at=at,
                actor_id=actor.id if actor else None,
                agency_id=actor.agency_id if actor else None,
                method=request.method,
                path=path[:300],
                status=status,
                error=code,
                client=client,
                **anonymous,
            )

        try:
            await run_in_threadpool(node.committer.run, record)
        except Exception:
            log.exception("could not audit a refusal (%s %s)", status, code)
    # The web UI (docex/web/errors.py) answers its own pages' refusals with a page.
    page: ErrorPage | None = getattr(request.app.state, "error_page", None)
    answer = await page(request, status, code, detail, headers) if page is not None else None
    if answer is not None:
        return answer
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(DocexError)
    async def _docex(request: Request, exc: DocexError) -> Response:
        if exc.status >= 500:
            return JSONResponse(
                {"error": exc.code, "detail": exc.detail},
                status_code=exc.status,
                headers=exc.headers,
            )
        if isinstance(exc, SignatureRejected):
            request.app.state.node.metrics.signature_refusals.labels(exc.code).inc()
        return await _refuse(request, exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return await _refuse(request, 422, "invalid_request", problems[:1000] or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else code
        headers: dict[str, Any] | None = getattr(exc, "headers", None)
        return await _refuse(request, exc.status_code, code, detail, headers)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> Response:
        # A value the database cannot store that validation let through: still the client's.
        return await _refuse(request, 422, "invalid_value", "a value cannot be stored as given")

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> Response:
        log.error("database unavailable: %s", type(exc).__name__)
        err = ServiceUnavailable("the database is unavailable", code="database_unavailable")
        return JSONResponse({"error": err.code, "detail": err.detail}, 503, headers=err.headers)

    @app.exception_handler(SigningServiceError)
    async def _signing(request: Request, exc: SigningServiceError) -> Response:
        # The one mapping of docex.signing's errors; a key or the PKI: say so, never how.
        if exc.kind == "unavailable":
            log.error("signing unavailable: %s", exc)
        return await _docex(request, _SIGNING_ERRORS[exc.kind](exc.public_detail, code=exc.code))

    @app.exception_handler(BlobStoreUnavailable)
    async def _store_down(request: Request, exc: BlobStoreUnavailable) -> Response:
        err = ServiceUnavailable("the blob store is unavailable", code="storage_unavailable")
        return JSONResponse({"error": err.code, "detail": err.detail}, 503, headers=err.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, _route(request))
        return JSONResponse(
            {"error": "internal_error", "detail": "an unexpected error occurred"}, 500
        )


ERROR_TEXTS: dict[int, str] = {
    400: "Malformed request",
    401: "Missing or invalid credentials",
    403: "Not allowed for this role",
    404: "Not found, or not visible to the caller",
    409: "Conflict: duplicate id with other content, or illegal state transition",
    410: "Gone: the document was recalled and its files are no longer served to you",
    413: "Too large: body, envelope or number of files",
    415: "Unsupported media type",
    416: "Range not satisfiable: Content-Range gives the file's size",
    422: "Well-formed but invalid",
    429: "Too many failed attempts: wait Retry-After seconds (too_many_attempts)",
    503: "A dependency is unavailable (Retry-After)",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the error statuses an endpoint can return."""
    return {s: {"model": ErrorBody, "description": ERROR_TEXTS[s]} for s in statuses}
