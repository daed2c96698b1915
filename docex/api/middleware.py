"""Pure-ASGI request metrics (no BaseHTTPMiddleware: it would buffer streamed downloads)."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
