"""A real node served by ``docex serve`` (uvicorn in a subprocess) on 127.0.0.1, over the test's
migrated, demo-seeded database (SQLite or PostgreSQL, by the ``backend`` fixture), with the
dispatcher running. A node that stops answering is killed at teardown (SIGKILL), never waited
for."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from docex.config import Settings
from tests.functional.conftest import NodeProcess
from tests.helpers import H41

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
