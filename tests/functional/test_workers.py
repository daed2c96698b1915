"""The production shape: an API-only ``docex serve`` and separate ``docex worker`` processes on
one PostgreSQL, sharing the queue through leases and SKIP LOCKED."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import _pg_admin, _with_db
from tests.functional.conftest import DOCEX, NodeProcess, WorkerProcess, signed_pdf
from tests.functional.test_crash import _wait_until_delivered
from tests.functional.test_takeover import (
    assert_each_delivered_exactly_once,
    database,
    delivered,
    submit,
)
from tests.helpers import G22
from tests.routing.bulk import queue_copies

pytestmark = pytest.mark.functional


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[str]:
    name = f"f_{uuid.uuid4().hex[:12]}"
    _pg_admin(pg_server, f"CREATE DATABASE {name}")
    yield _with_db(pg_server, name)
    _pg_admin(pg_server, f"DROP DATABASE {name} WITH (FORCE)")


def test_api_node_and_two_workers_deliver_everything_exactly_once(
    pg_database: str, node_process: NodeProcess
) -> None:
    node = node_process
    node.database_url = pg_database
    node.cli("init", "--demo")
    node.start("--no-dispatcher")
    workers = [
        subprocess.Popen(
            [DOCEX, "worker"], env=node.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(2)
    ]
    try:
        token = node.credentials()["agencies"][G22]["system"]["token"]
        ids = []
        for n in range(20):
            envelope = {
                "recipients": ["group:provinces", "group:nghean-communes"],
                "subject": f"Thông báo {n}",
            }
            files: dict[str, Any] = {
                "envelope": (None, json.dumps(envelope), "application/json"),
                "main": (
                    "tb.pdf",
                    signed_pdf(node, f"tb {n}", seed=str(n).encode()),
                    "application/pdf",
                ),
            }
            response = httpx.post(
                f"{node.url}/api/v1/documents",
                files=files,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        _wait_until_delivered(node)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            assert worker.wait(20) == 0  # SIGTERM stops a worker cleanly
    headers = {"Authorization": f"Bearer {token}"}
    for document_id in ids:
        receipts = httpx.get(
            f"{node.url}/api/v1/documents/{document_id}/receipts", headers=headers
        ).json()["items"]
        assert sorted(r["code"] for r in receipts) == ["01"] * 4


def test_four_worker_processes_deliver_two_thousand_deliveries_exactly_once(
    worker_node: NodeProcess,
) -> None:
    """Four ``docex worker`` processes on one database (SQLite: four writers on one file)
    while more deliveries keep arriving: each of 2,000 delivered once, every job gone, and no
    process ever logs "database is locked"."""
    node = worker_node
    node.start("--no-dispatcher")
    [template] = submit(node, 1)  # four deliveries, through the API
    db = database(node)
    workers = [WorkerProcess(node, f"w{i}") for i in range(4)]
    try:
        now = datetime.now(UTC)
        for chunk in range(8):  # 1,996 more, in bulk, while the workers run
            queue_copies(db, template, 1996 // 8 if chunk else 1996 - 7 * (1996 // 8),
                         now=now, tag=f"chunk{chunk}")  # fmt: skip
            time.sleep(0.2)
        deadline = time.monotonic() + 300
        while delivered(db) < 2000 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(w.proc.poll() is None for w in workers)  # none died on the way
    finally:
        codes = [w.stop() for w in workers]
    assert codes == [0, 0, 0, 0]  # SIGTERM stops each cleanly, its leases given back
    try:
        assert_each_delivered_exactly_once(db, 2000)
    finally:
        db.dispose()
    for log in [node.log, *(w.log for w in workers)]:
        assert "database is locked" not in log.read_text(), log
