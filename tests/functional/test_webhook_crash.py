"""Webhook events reach a real receiver at least once through SIGKILL: a worker killed after
its receiver said 2xx but before it recorded so (the worst moment) sends that event again, with
the same ``webhook-id`` and body, once its lease has expired; nothing is lost. On SQLite and on
PostgreSQL, with real ``docex serve`` and ``docex worker`` processes."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from docex.kit.faults import WEBHOOK_AFTER_SEND
from tests.functional.conftest import DOCEX, NodeProcess, signed_pdf
from tests.functional.test_crash import _check_exactly_once, _post, _presign, _wait_until_delivered
from tests.helpers import G22, H41
from tests.routing.receiver import receiving

pytestmark = pytest.mark.functional

ALLOW = {"DOCEX_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true", "DOCEX_DISPATCHER__LEASE_SECONDS": "1"}


def test_a_worker_killed_after_a_send_sends_it_again_and_loses_nothing(
    node_process: NodeProcess, database_url: str | None
) -> None:
    node = node_process
    node.database_url = database_url
    node.cli("init", "--demo")
    node.start("--no-dispatcher", **ALLOW)  # the API only: workers come and go below
    people = node.credentials()["agencies"]
    with receiving() as receiver:
        hook = httpx.post(
            f"{node.url}/api/v1/webhooks",
            json={"url": receiver.url, "events": ["document.delivered"]},
            headers={"Authorization": f"Bearer {people[H41]['system']['token']}"},
        ).json()
        sent = []
        for n in range(5):
            envelope = {"recipients": [H41], "subject": f"Công văn {n}"}
            files: dict[str, Any] = {
                "envelope": (None, json.dumps(envelope), "application/json"),
                "main": (
                    "cv.pdf",
                    signed_pdf(node, f"cv {n}", seed=str(n).encode()),
                    "application/pdf",
                ),
            }
            response = httpx.post(
                f"{node.url}/api/v1/documents",
                files=files,
                headers={"Authorization": f"Bearer {people[G22]['system']['token']}"},
                timeout=30,
            )
            assert response.status_code == 201, response.text
            sent.append(response.json()["id"])

        crashed = node.cli(
            "worker", check=False, env={**ALLOW, "DOCEX_FAULT_INJECT": WEBHOOK_AFTER_SEND}
        )
        assert crashed.returncode == 137, crashed.stderr  # died at the crash point
        assert len(receiver.accepted()) == 1  # the receiver had said 200 to one event

        # A second worker takes the crashed one's jobs over once their leases expire.
        process = subprocess.Popen(
            [DOCEX, "worker"],
            env=node.env(**ALLOW),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                ids = {r.message_id for r in receiver.accepted()}
                if len(ids) == len(sent):
                    break
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(30)
        got = receiver.accepted()

    documents = set()
    by_id: dict[str, set[bytes]] = {}
    for received in got:
        event = Webhook(hook["secret"]).verify(received.body, received.headers)
        assert event["type"] == "document.delivered"
        documents.add(event["data"]["document_id"])
        by_id.setdefault(received.message_id, set()).add(received.body)
    assert documents == set(sent)  # every event arrived
    assert len(by_id) == len(sent)  # one webhook-id per event...
    assert len(got) == len(sent) + 1  # ...and the one sent before the crash came twice
    assert all(len(bodies) == 1 for bodies in by_id.values())  # the same bytes each time


def test_sigkill_of_the_node_under_load_loses_no_event_and_delivers_once(
    node_process: NodeProcess, database_url: str | None
) -> None:
    """The kill -9 suite with webhooks flowing: a ``docex serve`` (API and worker) killed in
    the middle of a load of submissions, restarted, every submission retried: each delivery is
    made exactly once, and every ``document.delivered`` event reaches the receiver at least
    once, signed."""
    node = node_process
    node.database_url = database_url
    node.cli("init", "--demo")
    node.start(**ALLOW)
    people = node.credentials()["agencies"]
    token = people[G22]["system"]["token"]
    total = 24
    _presign(node, range(total))
    with receiving() as receiver:
        hook = httpx.post(
            f"{node.url}/api/v1/webhooks",
            json={"url": receiver.url, "events": ["document.delivered"]},
            headers={"Authorization": f"Bearer {people[H41]['system']['token']}"},
        ).json()
        accepted: dict[int, str] = {}
        lock = threading.Lock()

        def sender(numbers: range) -> None:
            for n in numbers:
                try:
                    response = _post(node, token, n, [H41])
                except httpx.TransportError:
                    continue  # the node died under us: retried below
                if response.status_code == 201:
                    with lock:
                        accepted[n] = response.json()["id"]

        threads = [threading.Thread(target=sender, args=(range(i, total, 3),)) for i in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(accepted) < total // 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        node.kill()
        for t in threads:
            t.join(60)
        assert 0 < len(accepted) < total, "the kill must land in the middle of the load"

        node.start(**ALLOW)
        ids: dict[int, str] = {}
        for n in range(total):  # an at-least-once client retries everything it sent
            response = _post(node, token, n, [H41])
            assert response.status_code in (200, 201), response.text
            ids[n] = response.json()["id"]
        _wait_until_delivered(node)
        _check_exactly_once(node, token, ids, recipients_per_doc=1)
        deadline = time.monotonic() + 60
        seen: set[str] = set()
        while time.monotonic() < deadline and seen != set(ids.values()):
            seen = {
                Webhook(hook["secret"]).verify(r.body, r.headers)["data"]["document_id"]
                for r in receiver.accepted()
            }
            time.sleep(0.1)
    assert seen == set(ids.values())  # every event arrived, at least once
