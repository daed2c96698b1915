"""Small request bodies (JSON, forms): authenticated first, then read under a cap.

FastAPI reads and parses a route's body *before* it resolves the route's dependencies, so an
endpoint declaring ``body: Model`` beside ``actor: ActorDep`` would read any body, however large,
from anyone, before the token is even looked at. :class:`LimitedRoute` turns that around for
every route that takes such a body: the caller is authenticated (when the route needs an
actor), the declared ``Content-Length`` is checked, and the body is read under the cap
(``limits.max_small_body_bytes``, or the route class's own) — each refusal a clean 401/413
through the one error handler — before the strict JSON reading of :class:`StrictJsonRoute`
and FastAPI's own parsing see the bytes it was handed.

Documents and PDFs to sign are not small: their endpoints stream their bodies themselves
(``documents/upload.py``), after authentication.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from fastapi.dependencies.models import Dependant
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from docex.api.deps import authenticate_request, get_actor
from docex.api.json_bodies import StrictJsonRoute
from docex.kit.bodies import read_capped
from docex.node import Node


def _needs_actor(dependant: Dependant) -> bool:
    return any(sub.call is get_actor or _needs_actor(sub) for sub in dependant.dependencies)


class LimitedRoute(StrictJsonRoute):
    """A route whose FastAPI-parsed body is read only after authentication, under a cap, and
    then, if JSON, strictly (``json_bodies.py``)."""

    cap: ClassVar[int | None] = None  # None: the node's limits.max_small_body_bytes

    @classmethod
    def capped(cls, cap: int) -> type[LimitedRoute]:
        """A route class with a cap of its own (a login form needs far less than a recall)."""
        return type(f"LimitedRoute{cap}", (cls,), {"cap": cap})

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler  # no body, or one the endpoint streams itself
        needs_actor = _needs_actor(self.dependant)
        own_cap = self.cap

        async def authenticated_then_capped(request: Request) -> Response:
            node: Node = request.app.state.node
            if needs_actor:
                await authenticate_request(request)
            cap = own_cap if own_cap is not None else node.settings.limits.max_small_body_bytes
            body = await read_capped(request.headers.get("content-length"), request.stream(), cap)
            return await handler(Request(request.scope, replay(body, request)))

        return authenticated_then_capped


def replay(body: bytes, request: Request) -> Callable[[], Coroutine[Any, Any, Message]]:
    """A ``receive`` that hands FastAPI the body already read, then the client's own events."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await request.receive()

    return receive
