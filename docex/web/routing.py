"""Every router of the web UI is made here, so that none forgets the CSRF check or the limits.

:class:`WebRoute` does for pages what ``docex.api.bodies.LimitedRoute`` does for the API: for
every request but GET/HEAD, the person is signed in first (when the page needs one: 401 before
a byte of the body is read), then a form body (anything but a multipart upload a page streams
itself under the upload limits) is read under the node's small-body cap (413), and only then
parsed — by FastAPI for ``Form`` fields, or by the CSRF check for the token."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.dependencies.models import Dependant
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from docex.api.bodies import LimitedRoute, replay
from docex.kit.bodies import read_capped
from docex.node import Node
from docex.web.context import SAFE_METHODS, check_csrf, person_dependency, signed_in


def _needs_person(dependant: Dependant) -> bool:
    return any(
        sub.call is person_dependency or _needs_person(sub) for sub in dependant.dependencies
    )


class WebRoute(LimitedRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super(LimitedRoute, self).get_route_handler()  # not the API's bearer check
        needs_person = _needs_person(self.dependant)
        parsed = self.body_field is not None  # FastAPI reads it (Form fields)

        async def signed_in_then_capped(request: Request) -> Response:
            if request.method in SAFE_METHODS:
                return await handler(request)
            if needs_person:
                await run_in_threadpool(signed_in, request)
            multipart = request.headers.get("content-type", "").startswith("multipart/")
            if multipart and not parsed:
                return await handler(request)  # streamed by its page (documents/upload.py)
            node: Node = request.app.state.node
            cap = node.settings.limits.max_small_body_bytes
            body = await read_capped(request.headers.get("content-length"), request.stream(), cap)
            return await handler(Request(request.scope, replay(body, request)))

        return signed_in_then_capped


def web_router() -> APIRouter:
    """A router for pages: not in the OpenAPI, every unsafe method's CSRF token checked."""
    return APIRouter(
        include_in_schema=False, dependencies=[Depends(check_csrf)], route_class=WebRoute
    )
