"""Hostile-traffic helpers: a request driven chunk by chunk into the ASGI app (counting how much
of the body the node read, and every file it wrote meanwhile), and raw sockets to a served node.
"""

from __future__ import annotations

import asyncio
import json
import selectors
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import node_of

BOUNDARY = "docex-security-boundary-5521"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


@pytest.fixture
def system_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temporary directory, for this test an empty folder of its own: a node that
    writes a request body there (FastAPI's UploadFile does) shows up in it."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def part(name: str, data: bytes, *, filename: str | None = None, ctype: str = "") -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    return head.encode() + b"\r\n" + data + b"\r\n"


def multipart(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def chunks_of(data: bytes, size: int = 64 * 1024) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


@dataclass
class Driven:
    """What came of one request driven into the app."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    chunks_read: int  # how many of the body's chunks the node asked for
    spool_seen: int  # most files seen at once in the node's spool directory
    tmp_seen: int  # most files seen at once in the system temporary directory
    chunks: int = 0

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class _Watch:
    folders: list[Path]
    most: list[int] = field(default_factory=list)

    def look(self) -> None:
        counts = [sum(1 for _ in f.iterdir()) if f.is_dir() else 0 for f in self.folders]
        self.most = [max(a, b) for a, b in zip(self.most or counts, counts, strict=True)]


def drive(
    client: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    chunks: list[bytes],
    *,
    disconnect_after: int | None = None,
    system_tmp: Path | None = None,
) -> Driven:
    """Send ``chunks`` to the app one ``receive`` at a time, as a server would (the test client
    reads a body whole before the app sees any of it). After ``disconnect_after`` chunks the
    client is gone. Watches the spool and ``system_tmp`` at every step."""
    spool = node_of(client).settings.spool_dir
    watch = _Watch([spool, system_tmp or spool])
    read = 0
    started: dict[str, Any] = {}
    answer = bytearray()
    last = len(chunks) if disconnect_after is None else disconnect_after

    async def receive() -> dict[str, Any]:
        nonlocal read
        watch.look()
        if read >= last:
            return {"type": "http.disconnect"}
        read += 1
        more = read < len(chunks)
        return {"type": "http.request", "body": chunks[read - 1], "more_body": more}

    async def send(message: dict[str, Any]) -> None:
        watch.look()
        if message["type"] == "http.response.start":
            started.update(message)
        elif message["type"] == "http.response.body":
            answer.extend(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    watch.look()
    response_headers = {k.decode().lower(): v.decode() for k, v in started.get("headers", [])}
    return Driven(
        status=started.get("status"),
        headers=response_headers,
        body=bytes(answer),
        chunks_read=read,
        spool_seen=watch.most[0],
        tmp_seen=watch.most[1] if system_tmp else 0,
        chunks=len(chunks),
    )


def spool_files(client: TestClient) -> list[Path]:
    return sorted(node_of(client).settings.spool_dir.iterdir())


# -- raw sockets to a served node -----------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the node closed the connection after answering

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_answer(sock: socket.socket, *, within: float = 20) -> Answer:
    """The node's answer on ``sock``, read until it closes the connection or the answer is
    complete and ``within`` seconds passed; fails if nothing came (the node is waiting)."""
    data = b""
    closed = False
    deadline = time.monotonic() + within
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if _complete(data):
                break
            continue
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    if not data:
        raise AssertionError(f"no answer within {within:g} s (closed: {closed})")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(lines[0].split()[1]), headers, body, closed)


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the node has answered or closed ``sock`` (without waiting)."""
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        return bool(selector.select(timeout=0))


def wait_for(condition: Any, within: float = 20, what: str = "condition") -> None:
    """Poll ``condition()`` until true; fails after ``within`` seconds (a hang, not slowness)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not true within {within:g} s")
        time.sleep(0.05)


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """Sockets a test opens; closed after it, whatever happened."""
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()
