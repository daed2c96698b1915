"""The HTTP/1.1 connection ``docex serve`` speaks: uvicorn's h11 protocol, bounded and strict.

uvicorn waits for a request head as long as a client cares to dribble it, and takes any
number of connections from one address. :func:`protocol_class` returns uvicorn's
``H11Protocol`` (always h11, whatever else is installed) with, per connection:

- **a header timeout**: a request head (request line and headers) must be complete within
  ``header_timeout_seconds`` of the connection opening, or of the first byte of the next
  request on a kept-alive connection (between requests, uvicorn's keep-alive timeout applies);
  otherwise 408 and the connection is closed;
- **a cap per address**: at most ``max_connections_per_address`` connections open at once from
  one peer address — the socket's own peer, never a forwarded header (0: no cap); one more is
  answered 429 and closed before anything of it is read;
- **strict framing** (RFC 9112 §6.1): a request with both ``Content-Length`` and
  ``Transfer-Encoding`` is 400 and the connection is closed. h11 would frame it by
  ``Transfer-Encoding`` and hand it on; a proxy in front that frames by ``Content-Length``
  would then disagree with docex about where the request ends (request smuggling).

Refusals at this level are JSON like every other (``{"error", "detail"}``), with
``Connection: close``, ``nosniff`` and ``no-store``. They reach no application code and are
not audited: there was no request to refuse on anyone's behalf. Body timeouts, which depend on
who reads the body, are the application's (``api/limits.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from http import HTTPStatus
from ipaddress import IPv6Address, ip_address
from typing import Any, ClassVar

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.utils import get_remote_addr
from uvicorn.server import ServerState

from docex.config import LimitSettings

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    408: "request_timeout",
    429: "too_many_connections",
    431: "request_headers_too_large",
    501: "not_implemented",
}


def refusal(status: int, detail: str, *headers: str) -> bytes:
    """A complete HTTP/1.1 response refusing a request, closing its connection."""
    body = json.dumps({"error": _CODES.get(status, f"http_{status}"), "detail": detail}).encode()
    head = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        "x-content-type-options: nosniff",
        "cache-control: no-store",
        *headers,
    ]
    return "\r\n".join(head).encode("ascii") + b"\r\n\r\n" + body


def peer_address(transport: asyncio.Transport) -> str | None:
    """The connection's peer address, an IPv4-mapped IPv6 address as the IPv4 one."""
    peer = get_remote_addr(transport)
    if peer is None:
        return None
    try:
        address = ip_address(peer[0])
    except ValueError:
        return peer[0]
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class _StrictConnection(h11.Connection):
    """h11, refusing what it would let through, and remembering why it refused."""

    refusal: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            event = super().next_event()
            if isinstance(event, h11.Request):
                names = {name for name, _ in event.headers}
                if b"content-length" in names and b"transfer-encoding" in names:
                    raise h11.RemoteProtocolError(
                        "a request cannot have both Content-Length and Transfer-Encoding", 400
                    )
        except h11.RemoteProtocolError as exc:
            self.refusal = exc
            raise
        return event


class BoundedH11Protocol(H11Protocol):
    """Set by :func:`protocol_class`: the limits, and the open connections per address."""

    limits: ClassVar[LimitSettings]
    open_connections: ClassVar[Counter[str]]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.conn = _StrictConnection(
            h11.SERVER, config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        )
        self._peer: str | None = None
        self._refused = False
        self._awaiting_head = True
        self._head_timer: asyncio.TimerHandle | None = None

    # -- the cap per address ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = peer_address(transport)
        cap = self.limits.max_connections_per_address
        if cap and peer is not None and self.open_connections[peer] >= cap:
            self._refused = True
            log.info("refused a connection from %s: %d already open", peer, cap)
            transport.write(
                refusal(
                    429, f"at most {cap} connections at once from one address", "retry-after: 1"
                )
            )
            transport.close()
            return
        super().connection_made(transport)
        if peer is not None:
            self._peer = peer
            self.open_connections[peer] += 1
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._cancel_head_timer()
        if self._peer is not None:
            self.open_connections[self._peer] -= 1
            if self.open_connections[self._peer] <= 0:
                del self.open_connections[self._peer]
            self._peer = None
        super().connection_lost(exc)

    # -- the header timeout -------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._awaiting_head and self._head_timer is None:
            self._arm_head_timer()
        super().data_received(data)
        self._head_received_yet()

    def on_response_complete(self) -> None:
        self._awaiting_head = True
        super().on_response_complete()
        if not self._head_received_yet() and self.conn.trailing_data[0]:
            self._arm_head_timer()  # part of the next request is already here

    def _head_received_yet(self) -> bool:
        """Ends the wait for a head once h11 has parsed one (the client left IDLE)."""
        if self._awaiting_head and self.conn.their_state is not h11.IDLE:
            self._awaiting_head = False
            self._cancel_head_timer()
        return not self._awaiting_head

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(
            self.limits.header_timeout_seconds, self._head_timed_out
        )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._awaiting_head or self.transport.is_closing():
            return
        seconds = self.limits.header_timeout_seconds
        self.transport.write(refusal(408, f"the request head did not arrive within {seconds:g} s"))
        self.transport.close()

    # -- strict framing -----------------------------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        error = getattr(self.conn, "refusal", None)
        status = error.error_status_hint if error is not None else 400
        if status not in _CODES:
            status = 400
        detail = {
            400: "malformed HTTP request",
            431: "the request head is too large",
            501: "only Transfer-Encoding: chunked is supported",
        }.get(status, "malformed HTTP request")
        if error is not None and "Content-Length and Transfer-Encoding" in str(error):
            detail = str(error)
        self._cancel_head_timer()
        self.transport.write(refusal(status, detail))
        self.transport.close()


def protocol_class(limits: LimitSettings) -> type[BoundedH11Protocol]:
    """The protocol class for one server (``uvicorn.Config(http=...)``): its own counts."""
    return type(
        "DocexH11Protocol",
        (BoundedH11Protocol,),
        {"limits": limits, "open_connections": Counter()},
    )
