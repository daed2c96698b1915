"""The drain middleware when one app is served from several event loops (a test's client and a
server thread, as the CLI tests do): a body read is never taken for a cut one, and a cut
reaches the read waiting on any loop."""

from __future__ import annotations

import asyncio
import threading

from starlette.types import Message, Receive, Scope, Send

from docex.api.shutdown import Draining, Shutdown
from docex.errors import ServiceUnavailable


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers the body it read, or the error code the read raised (as the app's handler)."""
    body = b""
    status = 200
    try:
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
    except ServiceUnavailable as error:
        status, body = 503, error.code.encode()
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _request(app: Draining, arrives: asyncio.Event | None = None) -> list[Message]:
    """One POST through ``app`` on a new event loop; the body arrives after ``arrives`` is set
    (at once when None)."""
    sent: list[Message] = []

    async def go() -> None:
        async def receive() -> Message:
            if arrives is not None:
                await arrives.wait()
            else:
                await asyncio.sleep(0.01)  # the read really waits, beside the cut
            return {"type": "http.request", "body": b"hello", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
        await app(scope, receive, send)

    asyncio.run(go())
    return sent


def test_requests_on_two_event_loops_both_read_their_body() -> None:
    app = Draining(_echo, Shutdown(grace_seconds=10))
    for _ in range(2):  # the second loop used to find the cut event bound to the first
        first, body = _request(app)
        assert first["status"] == 200
        assert body["body"] == b"hello"


def test_a_cut_from_the_server_thread_ends_a_read_waiting_on_another_loop() -> None:
    shutdown = Shutdown(grace_seconds=10)
    app = Draining(_echo, shutdown)
    assert _request(app)[0]["status"] == 200  # a first loop has waited on the cut
    shutdown.begin()

    never = asyncio.Event()  # the client never sends its body
    answers: list[list[Message]] = []
    reading = threading.Thread(target=lambda: answers.append(_request(app, never)), daemon=True)

    # Draining refuses new requests once the drain began: let this one in first.
    shutdown.began = None
    reading.start()
    while shutdown.in_flight == 0:
        threading.Event().wait(0.01)
    shutdown.begin()
    shutdown.cut_now()
    reading.join(10)
    assert not reading.is_alive()
    (answer,) = answers
    assert answer[0]["status"] == 503
    assert answer[1]["body"] == b"shutting_down"
