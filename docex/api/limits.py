"""Request bodies that stop coming, or come too slowly, end the request: a pure ASGI middleware.

Whoever reads a request body reads it through this middleware's ``receive``, which waits at
most ``body_timeout_seconds`` for the next piece, and once a body has been arriving for that
long, refuses it if its average rate is under ``min_body_bytes_per_second`` (a client sending
one byte every few seconds never trips a per-piece timeout). Either is a
:class:`~docex.errors.RequestTimeout` raised to the reader: a 408 through the one error handler,
and the reader's own clean-up (spool files) runs as for any other refusal. No body may exceed
``max_body_bytes``, whatever the route.

A response that starts before the request body was read to its end carries ``Connection:
close``: the rest of that body is never read, and the connection cannot serve another request
(a kept-alive connection would otherwise drain, at the client's pace, a body no one wants).
A client that goes away mid-body ends its request quietly, with nothing to answer.

Time before a request's head is complete is the server's to bound (``api/protocol.py``).
"""

from __future__ import annotations

import contextlib
import time

import anyio
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docex.config import LimitSettings
from docex.errors import PayloadTooLarge, RequestTimeout


def has_body(scope: Scope) -> bool:
    """HTTP/1.1 framing: a request has a body iff it has Transfer-Encoding or a non-zero
    Content-Length."""
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding":
            return True
        if name == b"content-length" and value.strip() not in (b"", b"0"):
            return True
    return False


class _Body:
    """What has been received of one request's body."""

    def __init__(self, limits: LimitSettings, expected: bool) -> None:
        self.limits = limits
        self.done = not expected
        self.started: float | None = None
        self.received = 0

    async def next(self, receive: Receive) -> Message:
        limits = self.limits
        if self.started is None:
            self.started = time.monotonic()
        try:
            with anyio.fail_after(limits.body_timeout_seconds):
                message = await receive()
        except TimeoutError:
            raise RequestTimeout(
                f"no part of the request body arrived for {limits.body_timeout_seconds:g} s"
            ) from None
        if message["type"] != "http.request":
            self.done = True  # http.disconnect: the reader sees it and stops
            return message
        self.received += len(message.get("body", b""))
        if self.received > limits.max_body_bytes:
            raise PayloadTooLarge(
                f"body over the limit of {limits.max_body_bytes} bytes", code="body_too_large"
            )
        if not message.get("more_body", False):
            self.done = True
            return message
        elapsed = time.monotonic() - self.started
        if (
            elapsed > limits.body_timeout_seconds
            and self.received < limits.min_body_bytes_per_second * elapsed
        ):
            raise RequestTimeout(
                f"the request body arrives slower than {limits.min_body_bytes_per_second} "
                "bytes per second"
            )
        return message


class RequestLimits:
    def __init__(self, app: ASGIApp, limits: LimitSettings) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _Body(self.limits, has_body(scope))

        async def limited_receive() -> Message:
            if body.done:  # the body is in; what follows is only ever a disconnect
                return await receive()
            return await body.next(receive)

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not body.done:
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"connection" for name, _ in headers):
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        with contextlib.suppress(ClientDisconnect):  # gone mid-body: no one to answer
            await self.app(scope, limited_receive, closing_send)
