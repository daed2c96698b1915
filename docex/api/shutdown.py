"""Stopping a node without a 500: drain, then stop.

On SIGTERM (or SIGINT) ``docex serve`` does not close its socket at once, as uvicorn does:

1. **drain** — every new request is answered ``503 shutting_down`` with ``Retry-After`` and
   ``Connection: close`` (a load balancer takes the node out, a client retries elsewhere or
   later; ``/readyz`` answers the same), while the requests in flight go on;
2. **stop** — as soon as none is left in flight, or when ``shutdown_grace_seconds`` have
   passed, uvicorn's own shutdown runs: the socket closes, then the application's lifespan ends
   (the routing worker stops and releases its leases, ``routing/worker.py``). The process
   exits 0.

A request still reading its body when the grace period ends is cut: its read (one waiting for
a stalled client too) raises
``ServiceUnavailable("shutting_down")``, which the request's own clean-up (spool files) and the
one error handler turn into a JSON 503, as for a slow body (``api/limits.py``). Nothing of it
was stored, so the client's retry with the same ``message_id`` makes one document. A request
past its body that still runs ``CUT_SECONDS`` later is cancelled by uvicorn; it is answered 503
too if nothing was sent yet, and logged as a warning, never a traceback. A second signal ends
the drain at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import weakref
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import Config

from docex.errors import ServiceUnavailable

log = logging.getLogger(__name__)

CODE = "shutting_down"
DETAIL = "this node is shutting down; retry in a moment"
RETRY_AFTER = 5
# After the grace period, how long requests cut at their body have to answer before the rest
# are cancelled.
CUT_SECONDS = 3


class Shutdown:
    """Shared by the server (which begins it) and the application (which drains)."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.began: float | None = None  # time.monotonic() of the signal
        self.in_flight = 0
        self.cut = False
        # One event per event loop that waits on it: an asyncio.Event belongs to the first loop
        # that waits, and a node's app may be served from more than one (a test's client and
        # a server thread): waiting from another loop would fail, and the read look cut.
        self._cut_events: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Event]
        self._cut_events = weakref.WeakKeyDictionary()

    @property
    def cut_event(self) -> asyncio.Event:
        """Set when the grace period is over; the one of the running event loop."""
        loop = asyncio.get_running_loop()
        event = self._cut_events.get(loop)
        if event is None:
            event = self._cut_events[loop] = asyncio.Event()
            if self.cut:
                event.set()
        return event

    def cut_now(self) -> None:
        self.cut = True
        for loop, event in list(self._cut_events.items()):
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    @property
    def draining(self) -> bool:
        return self.began is not None

    def begin(self) -> None:
        if self.began is None:
            self.began = time.monotonic()

    def elapsed(self) -> float:
        return 0.0 if self.began is None else time.monotonic() - self.began


def _error() -> ServiceUnavailable:
    return ServiceUnavailable(DETAIL, code=CODE, retry_after=RETRY_AFTER)


async def _answer_503(send: Send) -> None:
    body = b'{"error": "%s", "detail": "%s"}' % (CODE.encode(), DETAIL.encode())
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER).encode()),
                (b"connection", b"close"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Draining:
    """ASGI middleware: refuses new requests once :class:`Shutdown` has begun, counts the
    requests in flight, and cuts body reads when the grace period is over."""

    def __init__(self, app: ASGIApp, shutdown: Shutdown) -> None:
        self.app = app
        self.shutdown = shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        shutdown = self.shutdown
        if shutdown.began is not None:
            await _answer_503(send)
            return
        started = False
        body_done = False

        async def receive_until_cut() -> Message:
            # A body read waits for the client or for the cut, whichever comes first: a
            # stalled upload must not hold the shutdown until SIGKILL.
            nonlocal body_done
            if body_done:
                return await receive()
            if shutdown.cut:
                raise _error()
            reading = asyncio.ensure_future(receive())
            cut = asyncio.ensure_future(shutdown.cut_event.wait())
            try:
                await asyncio.wait((reading, cut), return_when=asyncio.FIRST_COMPLETED)
            finally:
                cut.cancel()
                if not reading.done():
                    reading.cancel()  # uvicorn's receive only waits: nothing is lost
            if not reading.done() or reading.cancelled():
                raise _error()
            message = reading.result()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body_done = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if shutdown.draining:
                    message = {
                        **message,
                        "headers": [*message.get("headers", []), (b"connection", b"close")],
                    }
            await send(message)

        shutdown.in_flight += 1
        try:
            await self.app(scope, receive_until_cut, tracking_send)
        except asyncio.CancelledError:
            # Cancelled by uvicorn at the very end of a shutdown: uvicorn would log it as a
            # crash with a traceback and answer a plain-text 500. The process is ending; the
            # client gets a 503 it can retry on, the log one line.
            if not shutdown.draining:
                raise
            log.warning("%s %s cut by the shutdown", scope["method"], scope.get("path", ""))
            if not started:
                await _answer_503(send)
        finally:
            shutdown.in_flight -= 1


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining on the first SIGTERM/SIGINT (see the module docstring)."""

    def __init__(self, config: Config, shutdown: Shutdown) -> None:
        super().__init__(config)
        self.shutdown_state = shutdown
        self._announced = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not uvicorn's: it re-raises the signal once shut down, and the process would die of
        # it (exit -15) instead of exiting 0. No logging in a signal handler (its lock).
        if self.shutdown_state.draining or sig not in (signal.SIGTERM, signal.SIGINT):
            self.should_exit = True
        else:
            self.shutdown_state.begin()

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter):
            return True
        state = self.shutdown_state
        if not state.draining:
            return False
        if not self._announced:
            self._announced = True
            log.info(
                "draining: %d requests in flight, %g s grace",
                state.in_flight,
                state.grace_seconds,
            )
        if state.in_flight == 0:
            return True
        if state.elapsed() >= state.grace_seconds and not state.cut:
            state.cut_now()
            log.warning("grace period over: cutting %d requests in flight", state.in_flight)
        return state.elapsed() >= state.grace_seconds + CUT_SECONDS
