"""Blobs whose intake never committed are swept after a grace period; nothing else is."""

from __future__ import annotations

import os
from datetime import timedelta

from fastapi.testclient import TestClient

from docex.documents.orphans import sweep_orphans
from tests.helpers import G22, audit_events, auth, deliver, envelope, node_of, pdf, send


def test_orphans_are_swept_after_the_grace_period_and_documents_are_kept(
    client: TestClient, credentials: dict
) -> None:
    node = node_of(client)
    kept = send(client, auth(credentials, G22), envelope(), pdf()).json()
    deliver(client)
    node.store.put_stream("forgotten", iter([b"an intake that crashed before commit"]))
    node.store.put_stream("inflight", iter([b"an intake still running"]))
    old = node.clock.now() - timedelta(hours=2)
    forgotten = next(p for p in node.settings.blob_dir.rglob("forgotten"))
    os.utime(forgotten, (old.timestamp(), old.timestamp()))

    swept = sweep_orphans(
        node.db, node.committer, node.store, now=node.clock.now(), grace=timedelta(hours=1)
    )

    assert swept == ["forgotten"]
    assert not node.store.exists("forgotten")
    assert node.store.exists("inflight")  # younger than the grace period: maybe in flight
    [event] = audit_events(client, "storage:blob:swept")
    assert event.detail["keys"] == ["forgotten"]
    file_id = kept["files"][0]["id"]
    download = client.get(
        f"/api/v1/documents/{kept['id']}/files/{file_id}", headers=auth(credentials, G22)
    )
    assert download.status_code == 200


def test_a_sweep_with_nothing_to_do_writes_nothing(client: TestClient, credentials: dict) -> None:
    node = node_of(client)
    send(client, auth(credentials, G22), envelope(), pdf())
    later = node.clock.now() + timedelta(days=1)
    assert (
        sweep_orphans(node.db, node.committer, node.store, now=later, grace=timedelta(hours=1))
        == []
    )
    assert audit_events(client, "storage:blob:swept") == []
