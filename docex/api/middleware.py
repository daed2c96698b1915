"""Pure-ASGI request metrics, request ids and the access log (no BaseHTTPMiddleware: it would
buffer streamed downloads)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docex.kit.ids import uuid7
from docex.kit.logs import request_id, well_formed_request_id


def route_template(scope: Scope) -> str:
    """The matched route as a template, with its router prefix (``/api/v1/documents/{id}``), so
    metrics are labelled by route and not by every document id."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str):
        return "<unmatched>"
    params = {k: str(v) for k, v in (scope.get("path_params") or {}).items()}
    try:
        concrete = template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template
    path: str = scope.get("path", "")
    if concrete and path.endswith(concrete):
        return path[: len(path) - len(concrete)] + template
    return template


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, observe: Callable[[str, str, int, float], None]) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            status = 499  # the client went away before an answer (nginx's code for it)
            raise
        finally:
            route = route_template(scope)
            self.observe(route, scope["method"], status, time.perf_counter() - started)


access_log = logging.getLogger("docex.access")


class RequestContext:
    """A request id for every request, and one access-log line when it ends.

    The id is the client's ``X-Request-ID`` when well formed (so a line in the client's log
    and one in the node's can be matched), else a new one; it is echoed in the response's
    ``X-Request-ID`` and set in :data:`docex.kit.logs.request_id` while the request runs, so
    every log line written for it carries it. The access line names the method, the route
    template, the status, the duration and the principal's id (set on ``request.state.actor``
    by authentication): never a header, the query string or a token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next(
            (v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"),
            None,
        )
        rid = given if given is not None and well_formed_request_id(given) else uuid7()
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            status = 499
            raise
        finally:
            actor = (scope.get("state") or {}).get("actor")
            access_log.info(
                "%s %s %d",
                scope["method"],
                route_template(scope),
                status,
                extra={
                    "method": scope["method"],
                    "route": route_template(scope),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "principal_id": getattr(actor, "id", None),
                },
            )
            request_id.reset(token)
