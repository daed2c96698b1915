"""SIGTERM stops a real ``docex serve`` without a 500: new requests get ``503 shutting_down``,
the upload in flight finishes (or, past the grace period, is cut with a 503 and leaves nothing
behind), the process exits 0, and the client's retry with the same ``message_id`` makes exactly
one document."""

from __future__ import annotations

import json
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from docex.config import Settings
from docex.db import Database
from docex.documents.models import Document, DocumentFile
from docex.documents.orphans import sweep_orphans
from docex.groupcommit import GroupCommitter
from docex.kit.clock import SystemClock
from docex.storage.filesystem import FilesystemBlobStore
from tests.functional.conftest import NodeProcess, signed_pdf
from tests.helpers import G22, H41

pytestmark = pytest.mark.functional

MIB = 1 << 20
ATTACHMENT = 50 * MIB


class SlowUpload:
    """A multipart document upload streamed 1 MiB at a time, ``pause`` seconds apart."""

    def __init__(self, message_id: str, main: bytes, *, pause: float) -> None:
        self.boundary = secrets.token_hex(16)
        self.pause = pause
        self.sent = 0
        env = {"message_id": message_id, "recipients": [H41], "subject": "Phụ lục 50 MB"}
        head = b"".join(
            [
                self._part("envelope", None, "application/json", json.dumps(env).encode()),
                self._part("main", "cong-van.pdf", "application/pdf", main),
                self._header("attachment", "phu-luc.bin", "application/octet-stream"),
            ]
        )
        self.head = head
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.length = len(head) + ATTACHMENT + len(self.tail)

    def _header(self, name: str, filename: str | None, ctype: str) -> bytes:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        return (
            f"--{self.boundary}\r\nContent-Disposition: {disposition}\r\n"
            f"Content-Type: {ctype}\r\n\r\n"
        ).encode()

    def _part(self, name: str, filename: str | None, ctype: str, data: bytes) -> bytes:
        return self._header(name, filename, ctype) + data + b"\r\n"

    def body(self) -> Iterator[bytes]:
        yield self.head
        block = bytearray(MIB)
        for n in range(ATTACHMENT // MIB):
            block[:8] = n.to_bytes(8, "big")
            self.sent += MIB
            yield bytes(block)
            time.sleep(self.pause)
        yield self.tail

    def post(self, node: NodeProcess, token: str, request_id: str) -> httpx.Response:
        return httpx.post(
            f"{node.url}/api/v1/documents",
            content=self.body(),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": f"multipart/form-data; boundary={self.boundary}",
                "Content-Length": str(self.length),
                "X-Request-ID": request_id,
            },
            timeout=120,
        )


def _upload_in_background(
    upload: SlowUpload, node: NodeProcess, token: str, request_id: str
) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["response"] = upload.post(node, token, request_id)
        except httpx.TransportError as exc:  # cut while still sending: a retry follows
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while upload.sent < 10 * MIB and time.monotonic() < deadline:
        time.sleep(0.01)
    assert upload.sent >= 10 * MIB
    return thread, outcome


def _log_lines(node: NodeProcess) -> list[dict[str, Any]]:
    """The node's log: every line but the banner's (printed for people) is one JSON object."""
    lines = node.log.read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    banner = " ".join(line for line in lines if not line.startswith("{"))
    assert banner.startswith("docex node "), banner
    assert len(banner) < 400, banner
    return entries


def _documents(node: NodeProcess, message_id: str) -> int:
    db = Database(f"sqlite:///{node.data_dir / 'docex.db'}")
    try:
        with db.read() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(Document)
                    .where(Document.message_id == message_id)
                )
                or 0
            )
    finally:
        db.dispose()


def _assert_no_orphans(node: NodeProcess) -> None:
    """Every blob is named by a file row (before any sweep), and a sweep finds nothing."""
    settings = Settings(data_dir=node.data_dir)
    db = Database(settings.resolved_database_url)
    store = FilesystemBlobStore(settings.blob_dir)
    committer = GroupCommitter(db)
    try:
        with db.read() as session:
            referenced = set(session.scalars(select(DocumentFile.blob_key)))
        assert set(store.iter_keys()) == referenced
        later = SystemClock().now() + timedelta(days=1)
        assert sweep_orphans(db, committer, store, now=later, grace=timedelta(hours=1)) == []
    finally:
        committer.close()
        db.dispose()
    assert not any(settings.spool_dir.iterdir())


def _retry(node: NodeProcess, token: str, message_id: str, main: bytes) -> httpx.Response:
    return SlowUpload(message_id, main, pause=0).post(node, token, f"{message_id}-retry")


def test_sigterm_drains_the_upload_in_flight_refuses_new_requests_and_exits_0(
    node_process: NodeProcess,
) -> None:
    node = node_process
    node.start("--demo", DOCEX_SHUTDOWN_GRACE_SECONDS="60")
    assert node.proc is not None
    token = node.credentials()["agencies"][G22]["system"]["token"]
    main = signed_pdf(node, "Công văn kèm phụ lục")
    upload = SlowUpload("drain-1", main, pause=0.05)
    thread, outcome = _upload_in_background(upload, node, token, "upload-drain-1")

    node.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # the signal is seen at the server's next tick (0.1 s)
    refused = httpx.get(f"{node.url}/api/v1/inbox", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 503
    assert refused.json()["error"] == "shutting_down"
    assert refused.headers["retry-after"] == "5"
    assert httpx.get(f"{node.url}/readyz").status_code == 503  # out of the load balancer

    thread.join(120)
    response = outcome["response"]
    assert response.status_code == 201, response.text
    assert response.headers["x-request-id"] == "upload-drain-1"
    assert node.proc.wait(30) == 0

    entries = _log_lines(node)
    [access] = [e for e in entries if e.get("request_id") == "upload-drain-1"]
    assert (access["route"], access["status"]) == ("/api/v1/documents", 201)
    assert not any(e["level"] == "error" or "exception" in e for e in entries)
    assert not any(e.get("status") == 500 for e in entries)
    assert "Traceback" not in node.log.read_text()
    assert token not in node.log.read_text()

    node.start()
    again = _retry(node, token, "drain-1", main)
    assert again.status_code == 200  # accepted before the stop: the retry finds it
    assert again.json()["id"] == response.json()["id"]
    node.stop()
    assert _documents(node, "drain-1") == 1
    _assert_no_orphans(node)


def test_an_upload_cut_at_the_end_of_the_grace_period_leaves_nothing_and_its_retry_succeeds(
    node_process: NodeProcess,
) -> None:
    node = node_process
    node.start("--demo", DOCEX_SHUTDOWN_GRACE_SECONDS="1")
    assert node.proc is not None
    token = node.credentials()["agencies"][G22]["system"]["token"]
    main = signed_pdf(node, "Công văn kèm phụ lục")
    upload = SlowUpload("cut-1", main, pause=0.1)  # ~5 s of body: longer than the grace
    thread, outcome = _upload_in_background(upload, node, token, "upload-cut-1")

    node.proc.send_signal(signal.SIGTERM)
    thread.join(120)
    assert node.proc.wait(30) == 0
    if "response" in outcome:  # the client read the answer before the connection closed
        assert outcome["response"].status_code == 503
        assert outcome["response"].json()["error"] == "shutting_down"
    assert upload.sent < ATTACHMENT, "the upload must be cut, not finished"

    entries = _log_lines(node)
    [cut] = [e for e in entries if e.get("request_id") == "upload-cut-1"]
    assert (cut["route"], cut["status"]) == ("/api/v1/documents", 503)
    assert not any(e.get("status") == 500 for e in entries)
    assert not any("exception" in e for e in entries)
    assert "Traceback" not in node.log.read_text()
    assert _documents(node, "cut-1") == 0
    _assert_no_orphans(node)

    node.start(DOCEX_SHUTDOWN_GRACE_SECONDS="1")
    retried = _retry(node, token, "cut-1", main)
    assert retried.status_code == 201, retried.text
    node.stop()
    assert _documents(node, "cut-1") == 1
    _assert_no_orphans(node)
