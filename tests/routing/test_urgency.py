"""Urgency at scale: a flash document sent behind 10,000 queued normal deliveries is in the
worker's very first batch, and delivered with it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from docex.documents.models import Delivery
from docex.routing.models import Receipt
from docex.vocabulary.transport import JOB_DELIVERY
from tests.helpers import G22, H41, auth, envelope, node_of, pdf, send
from tests.routing.bulk import queue_copies


def test_a_flash_document_behind_ten_thousand_normal_deliveries_goes_first(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    node = node_of(client)
    normal = send(client, auth(credentials, G22), envelope(urgency="normal"), pdf()).json()
    # Queued a minute earlier than anything else: by age alone they would all come first.
    queue_copies(node.db, normal["id"], 10_000, now=node.clock.now() - timedelta(minutes=1))
    flash = send(client, auth(credentials, G22), envelope([H41], urgency="flash"), pdf()).json()
    with node.db.read() as session:
        flash_delivery = session.scalars(
            select(Delivery.id).where(Delivery.document_id == flash["id"])
        ).one()
        waiting = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.transport == "queued")
        )
    assert waiting == 10_002

    batch = node.worker.claim(JOB_DELIVERY)  # the worker's first batch, as its loop takes it
    assert len(batch) == node.settings.dispatcher.batch_size
    assert batch[0].ref == flash_delivery
    assert node.worker.move(JOB_DELIVERY, batch) == len(batch)

    with node.db.read() as session:
        arrived = session.scalar(
            select(func.count()).where(Receipt.delivery_id == flash_delivery, Receipt.code == "01")
        )
        still_waiting = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.transport == "queued")
        )
    assert arrived == 1
    assert still_waiting == 10_002 - len(batch)
    view = client.get(f"/api/v1/documents/{flash['id']}", headers=auth(credentials, G22)).json()
    assert [r["transport"] for r in view["recipients"]] == ["delivered"]
