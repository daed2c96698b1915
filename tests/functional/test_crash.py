"""Nothing accepted is ever lost; nothing is delivered twice — proved with SIGKILL.

Each test kills a real ``docex serve`` process (at a random moment under load, or at an
injected crash point), restarts it on the same data directory, lets the client retry with the
same ``message_id`` as an at-least-once sender would, and then checks every document.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from docex.kit.faults import DISPATCHER_AFTER_CLAIM, INTAKE_AFTER_BLOBS
from tests.functional.conftest import NodeProcess, signed_pdf
from tests.helpers import G22, H41

pytestmark = pytest.mark.functional


_SIGNED: dict[tuple[str, int], bytes] = {}


def _presign(node: NodeProcess, numbers: range) -> None:
    for n in numbers:
        _SIGNED[(node.url, n)] = signed_pdf(node, f"doc {n}", seed=str(n).encode())


def _post(node: NodeProcess, token: str, n: int, recipients: list[str]) -> httpx.Response:
    env = {"message_id": f"crash-{n}", "recipients": recipients, "subject": f"Văn bản {n}"}
    files: dict[str, Any] = {
        "envelope": (None, json.dumps(env), "application/json"),
        "main": (f"{n}.pdf", _SIGNED[(node.url, n)], "application/pdf"),
    }
    return httpx.post(
        f"{node.url}/api/v1/documents",
        files=files,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _wait_until_delivered(node: NodeProcess, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        text = httpx.get(f"{node.url}/metrics", timeout=5).text
        match = re.search(r'^docex_deliveries\{transport="queued"\} (\S+)$', text, re.M)
        if match and float(match.group(1)) == 0:
            return
        time.sleep(0.1)
    raise AssertionError("deliveries still queued")


def _check_exactly_once(
    node: NodeProcess, token: str, ids: dict[int, str], recipients_per_doc: int
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for n, document_id in ids.items():
        document = httpx.get(f"{node.url}/api/v1/documents/{document_id}", headers=headers).json()
        assert document["message_id"] == f"crash-{n}"
        assert [r["transport"] for r in document["recipients"]] == [
            "delivered"
        ] * recipients_per_doc
        receipts = httpx.get(
            f"{node.url}/api/v1/documents/{document_id}/receipts", headers=headers
        ).json()["items"]
        assert sorted(r["code"] for r in receipts) == ["01"] * recipients_per_doc, n
    outbox = httpx.get(f"{node.url}/api/v1/outbox?limit=500", headers=headers).json()
    assert len(outbox["items"]) == len(ids)


def test_sigkill_under_load_loses_nothing_accepted_and_duplicates_nothing(
    node_process: NodeProcess,
) -> None:
    node = node_process
    node.start("--demo")
    token = node.credentials()["agencies"][G22]["system"]["token"]
    total = 48
    _presign(node, range(total))
    accepted: dict[int, str] = {}
    lock = threading.Lock()

    def sender(numbers: range) -> None:
        for n in numbers:
            try:
                response = _post(node, token, n, [H41, "000.00.00.H26"])
            except httpx.TransportError:
                continue  # the node died under us: this one is retried below
            if response.status_code == 201:
                with lock:
                    accepted[n] = response.json()["id"]

    threads = [threading.Thread(target=sender, args=(range(i, total, 4),)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(accepted) < total // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    node.kill()
    for t in threads:
        t.join(60)
    assert 0 < len(accepted) < total, "the kill must land in the middle of the load"

    node.start()
    ids: dict[int, str] = {}
    for n in range(total):  # an at-least-once client retries everything it sent
        response = _post(node, token, n, [H41, "000.00.00.H26"])
        assert response.status_code in (200, 201), response.text
        ids[n] = response.json()["id"]
        if n in accepted:
            assert response.status_code == 200  # accepted before the crash: not lost
            assert ids[n] == accepted[n]
    _wait_until_delivered(node)
    _check_exactly_once(node, token, ids, recipients_per_doc=2)


@pytest.mark.parametrize("point", [INTAKE_AFTER_BLOBS, DISPATCHER_AFTER_CLAIM])
def test_crash_at_the_worst_moment_then_restart(node_process: NodeProcess, point: str) -> None:
    node = node_process
    node.cli("init", "--demo")
    token = node.credentials()["agencies"][G22]["system"]["token"]
    node.start(DOCEX_DISPATCHER__LEASE_SECONDS="1")
    _presign(node, range(1, 2))
    node.stop()
    node.start(DOCEX_FAULT_INJECT=point, DOCEX_DISPATCHER__LEASE_SECONDS="1")
    first: Any
    try:
        first = _post(node, token, 1, [H41])
    except httpx.TransportError as exc:
        first = exc
    assert node.proc is not None
    node.proc.wait(30)  # died at the crash point (during intake, or in the dispatcher)
    if point == INTAKE_AFTER_BLOBS:
        assert isinstance(first, httpx.TransportError)  # never acknowledged
    else:
        assert first.status_code == 201  # acknowledged, then the dispatcher crashed

    node.start(DOCEX_DISPATCHER__LEASE_SECONDS="1")
    again = _post(node, token, 1, [H41])
    assert again.status_code == (201 if point == INTAKE_AFTER_BLOBS else 200), again.text
    _wait_until_delivered(node)
    _check_exactly_once(node, token, {1: again.json()["id"]}, recipients_per_doc=1)


def test_data_directory_survives_restart_with_its_key(node_process: NodeProcess) -> None:
    node = node_process
    node.start("--demo")
    jwks_before = httpx.get(f"{node.url}/.well-known/jwks.json").json()
    node.stop()
    node.start()
    assert httpx.get(f"{node.url}/.well-known/jwks.json").json() == jwks_before
    key_file = next(Path(node.data_dir, "keys").iterdir())
    assert key_file.stat().st_mode & 0o077 == 0
