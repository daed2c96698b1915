"""Hostile-traffic helpers: a request driven chunk by chunk into the ASGI app (counting how much
of the body the node read, and every file it wrote meanwhile), and raw sockets to a served node.
Also a real node served by ``docex serve`` (uvicorn in a subprocess) over the test's migrated,
demo-seeded database with the dispatcher running, a /healthz poller and parallel callers, for
the concurrency tests; a node that stops answering is killed at teardown, never waited for.
"""

from __future__ import annotations

import asyncio
import json
import selectors
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from docex.config import Settings
from tests.functional.conftest import NodeProcess
from tests.helpers import H41, node_of

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


# A request that has not been answered within this long is a hang, not a slow answer (the
# machine may be busy: it is shared): the figure bounds the wait, it measures nothing.
HANG_SECONDS = 60.0


@dataclass
class Served:
    process: NodeProcess
    settings: Settings
    credentials: dict[str, Any]

    @property
    def url(self) -> str:
        return self.process.url

    def token(self, who: str, role: str = "clerk") -> str:
        if who in ("auditor", "admin"):
            return str(self.credentials[who]["token"])
        return str(self.credentials["agencies"][who][role]["token"])

    def bearer(self, who: str, role: str = "clerk") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(who, role)}"}

    def person(self, who: str, role: str = "clerk") -> dict[str, str]:
        entry = self.credentials["agencies"][who][role]
        return {"username": entry["username"], "password": entry["password"]}


def http_client() -> httpx.Client:
    """A client that never reuses a connection the server may be closing: uvicorn closes one
    idle for 5 s, and a request sent on it at that moment fails with no fault of the node's (a
    busy test machine can pause a client that long)."""
    return httpx.Client(timeout=HANG_SECONDS, limits=httpx.Limits(keepalive_expiry=1.0))


def serve(settings: Settings, credentials: dict[str, Any], **env: str) -> Served:
    process = NodeProcess(settings.data_dir, database_url=settings.database_url)
    process.start(DOCEX_NODE_ID=settings.node_id, **env)
    return Served(process=process, settings=settings, credentials=credentials)


@pytest.fixture
def served(settings: Settings, credentials: dict[str, Any]) -> Iterator[Served]:
    node = serve(settings, credentials)
    try:
        yield node
    finally:
        node.process.kill()


@dataclass
class HealthPoller:
    """Polls ``/healthz`` from a thread of its own while a test hammers the node."""

    url: str
    # Called on the first unanswered poll (kill the node: every request still waiting then
    # fails at once, instead of each waiting out its own timeout).
    on_hang: Callable[[], None] | None = None
    answers: list[int | str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> HealthPoller:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(HANG_SECONDS + 5)

    def _run(self) -> None:
        with http_client() as client:
            while not self._stop.is_set():
                try:
                    self.answers.append(client.get(f"{self.url}/healthz").status_code)
                except httpx.HTTPError as exc:
                    self.answers.append(type(exc).__name__)
                    if self.on_hang is not None:
                        self.on_hang()
                        return
                self._stop.wait(0.05)

    def failures(self) -> list[int | str]:
        return [a for a in self.answers if a != 200]


def in_parallel(
    calls: Sequence[Callable[[], httpx.Response]], *, workers: int = 48
) -> list[int | str]:
    """Run every call at once (``workers`` at a time); the status of each, or the name of the
    transport error (a timeout is a hang)."""
    from concurrent.futures import ThreadPoolExecutor

    def run(call: Callable[[], httpx.Response]) -> int | str:
        try:
            return call().status_code
        except httpx.HTTPError as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, calls))


def signed_pdf(node: Served, title: str, *, agency: str, seed: bytes) -> bytes:
    """A sample PDF signed the Decree 30 way through the node's own signing service."""
    from docex.kit.samplepdf import sample_pdf

    data = sample_pdf(title, seed=seed)
    for role, who in (("signer", "leader"), ("seal", "clerk")):
        response = httpx.post(
            f"{node.url}/api/v1/pdf/sign",
            files={"file": ("cv.pdf", data, "application/pdf")},
            data={"as": role},
            headers=node.bearer(agency, who),
            timeout=60,
        )
        assert response.status_code == 200, response.text
        data = response.content
    return data


def delivered_to_h41(node: Served, sender: str, count: int) -> list[str]:
    """``count`` documents from ``sender`` to H41, each delivered (status 01) before returning."""
    import json
    import time

    ids = []
    for n in range(count):
        pdf = signed_pdf(node, f"Công văn {n}", agency=sender, seed=f"pre-{n}".encode())
        response = httpx.post(
            f"{node.url}/api/v1/documents",
            files={
                "envelope": (None, json.dumps({"recipients": [H41], "subject": f"Số {n}"})),
                "main": ("cv.pdf", pdf, "application/pdf"),
            },
            headers=node.bearer(sender),
            timeout=60,
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    deadline = time.monotonic() + 60
    for document_id in ids:
        while True:
            receipts = httpx.get(
                f"{node.url}/api/v1/documents/{document_id}/receipts",
                headers=node.bearer(sender),
                timeout=HANG_SECONDS,
            ).json()["items"]
            if any(r["code"] == "01" for r in receipts):
                break
            assert time.monotonic() < deadline, f"{document_id} was never delivered"
            time.sleep(0.1)
    return ids
