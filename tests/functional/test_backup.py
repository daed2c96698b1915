"""A backup taken while documents flow (``docex backup``), restored as the runbook says into a
fresh data directory: the node started on it reads every document it holds, byte for byte, and
its audit trail is the original's, event for event, up to the moment of the backup."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from docex.audit.models import AuditEvent
from docex.db import Database
from docex.documents.models import Document
from docex_client import DocexClient
from tests.functional.conftest import NodeProcess, signed_pdf
from tests.helpers import G22, H41

pytestmark = pytest.mark.functional

TOTAL = 24


def _attachment(n: int) -> bytes:
    return hashlib.sha512(str(n).encode()).digest() * 1024 * (n % 3 + 1)  # 64-192 KiB


def _post(node: NodeProcess, token: str, n: int, main: bytes) -> httpx.Response:
    env = {"message_id": f"backup-{n}", "recipients": [H41], "subject": f"Văn bản {n}"}
    return httpx.post(
        f"{node.url}/api/v1/documents",
        files=[
            ("envelope", (None, json.dumps(env), "application/json")),
            ("main", (f"{n}.pdf", main, "application/pdf")),
            ("attachment", (f"phu-luc-{n}.bin", _attachment(n), "application/octet-stream")),
        ],
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def _audit(data_dir: Path) -> list[tuple[Any, ...]]:
    db = Database(f"sqlite:///{data_dir / 'docex.db'}")
    try:
        with db.read() as session:
            rows = session.scalars(select(AuditEvent).order_by(AuditEvent.index)).all()
            return [(e.index, e.at, e.event, e.actor_id, e.document_id, e.detail) for e in rows]
    finally:
        db.dispose()


def _document_ids(data_dir: Path) -> dict[str, str]:
    db = Database(f"sqlite:///{data_dir / 'docex.db'}")
    try:
        with db.read() as session:
            rows = session.execute(select(Document.message_id, Document.id)).all()
            return {row.message_id: row.id for row in rows}
    finally:
        db.dispose()


def test_a_backup_taken_while_documents_flow_restores_every_document_and_the_audit_trail(
    node_process: NodeProcess, tmp_path: Path
) -> None:
    node = node_process
    node.start("--demo")
    token = node.credentials()["agencies"][G22]["system"]["token"]
    mains = {n: signed_pdf(node, f"Văn bản {n}", seed=str(n).encode()) for n in range(TOTAL)}
    accepted: dict[int, str] = {}

    def sender() -> None:
        for n in range(TOTAL):
            response = _post(node, token, n, mains[n])
            assert response.status_code == 201, response.text
            accepted[n] = response.json()["id"]

    thread = threading.Thread(target=sender)
    thread.start()
    deadline = time.monotonic() + 120
    while len(accepted) < TOTAL // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    before = dict(accepted)
    backup = tmp_path / "backup-2026-11-26"
    taken = json.loads(node.cli("backup", str(backup), "--json").stdout)
    thread.join(120)
    assert len(accepted) == TOTAL
    assert len(before) < TOTAL, "the backup must be taken while documents still flow"
    node.stop()
    original_audit = _audit(node.data_dir)

    # The runbook's restore: the backup is a data directory; copy it, start a node on it.
    restored = NodeProcess(tmp_path / "restored")
    shutil.copytree(backup, restored.data_dir, symlinks=True)
    held = _document_ids(restored.data_dir)
    snapshot = _audit(restored.data_dir)
    # The audit trail as it was at the backup: the original's, event for event, cut there.
    assert snapshot == original_audit[: len(snapshot)]
    accepted_events = {row[4] for row in snapshot if row[2] == "intake:document:accepted"}
    assert accepted_events == set(held.values())
    assert taken["blobs"] >= 2 * len(held)
    assert {f"backup-{n}" for n in before} <= set(held)
    restored.start()
    try:
        with DocexClient(restored.url, token, timeout=60) as client:
            for message_id, document_id in held.items():
                n = int(message_id.removeprefix("backup-"))
                assert document_id == accepted[n]
                document = client.document(document_id)
                for file in document.files:
                    out = tmp_path / "read" / f"{document_id}-{file.id}"
                    out.parent.mkdir(exist_ok=True)
                    got = client.download(document_id, file.id, out).sha256
                    assert got == file.sha256
                    expected = mains[n] if file.role == "main" else _attachment(n)
                    assert out.read_bytes() == expected
            trace = httpx.get(
                f"{restored.url}/api/v1/documents/{accepted[0]}/trace",
                headers={"Authorization": f"Bearer {token}"},
            ).json()["items"]
            assert trace[0]["event"] == "intake:document:accepted"
            # The restored node goes on: what it lacks, the sender's retry brings.
            missing = next(n for n in range(TOTAL) if f"backup-{n}" not in held)
            assert _post(restored, token, missing, mains[missing]).status_code == 201
    finally:
        restored.stop()

    assert _audit(restored.data_dir)[: len(snapshot)] == snapshot  # extended, not rewritten
