"""The dispatcher delivers each delivery exactly once, in urgency order, and a crashed
claimer's work is picked up again when its lease expires."""

from __future__ import annotations

import threading
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from docex.agencies.models import Agency
from docex.documents.models import Delivery
from docex.routing.dispatcher import Dispatcher
from docex.routing.models import Receipt
from tests.helpers import G22, H26, H41, auth, envelope, node_of, pdf, send


def _dispatcher(client: TestClient, owner: str, **overrides: object) -> Dispatcher:
    node = node_of(client)
    settings = node.settings.dispatcher.model_copy(update=overrides)
    return Dispatcher(
        node.db, node.signer, settings, node_id=node.settings.node_id, clock=node.clock, owner=owner
    )


def _arrivals(client: TestClient) -> int:
    with node_of(client).db.read() as session:
        return int(session.scalar(select(func.count()).where(Receipt.code == "01")) or 0)


def test_a_crashed_claimers_deliveries_are_taken_over_after_the_lease(
    client: TestClient, credentials: dict
) -> None:
    send(client, auth(credentials, G22), envelope([H41, H26]), pdf())
    crashed = _dispatcher(client, "crashed", lease_seconds=30)
    survivor = _dispatcher(client, "survivor", lease_seconds=30)
    now = node_of(client).clock.now()

    claimed = crashed.claim(now)  # ... and the process dies before completing
    assert len(claimed) == 2
    assert survivor.claim(now + timedelta(seconds=5)) == []  # lease still held

    later = now + timedelta(seconds=31)
    taken = survivor.claim(later)
    assert sorted(taken) == sorted(claimed)
    assert survivor.complete(taken, later) == 2
    # The crashed process comes back and tries to finish its old batch: nothing happens twice.
    assert crashed.complete(claimed, later) == 0
    assert _arrivals(client) == 2


def test_flash_documents_jump_the_queue(client: TestClient, credentials: dict) -> None:
    for _ in range(3):
        send(client, auth(credentials, G22), envelope(urgency="normal"), pdf())
    flash = send(client, auth(credentials, G22), envelope(urgency="flash"), pdf()).json()
    urgent = send(client, auth(credentials, G22), envelope(urgency="urgent"), pdf()).json()
    one_at_a_time = _dispatcher(client, "d1", batch_size=1)
    order = []
    for _ in range(5):
        [delivery_id] = one_at_a_time.claim()
        with node_of(client).db.read() as session:
            order.append(session.get(Delivery, delivery_id).document_id)  # type: ignore[union-attr]
        one_at_a_time.complete([delivery_id])
    assert order[:2] == [flash["id"], urgent["id"]]


def test_concurrent_dispatchers_deliver_each_delivery_exactly_once(
    client: TestClient, credentials: dict
) -> None:
    for _ in range(30):
        send(client, auth(credentials, G22), envelope(["group:provinces"]), pdf())
    dispatchers = [_dispatcher(client, f"d{i}", batch_size=4) for i in range(4)]
    errors: list[BaseException] = []

    def run(d: Dispatcher) -> None:
        try:
            d.run_once()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    node_of(client).dispatcher.run_once()  # whatever a busy loser left behind
    with node_of(client).db.read() as session:
        per_delivery = session.execute(
            select(Receipt.delivery_id, func.count())
            .where(Receipt.code == "01")
            .group_by(Receipt.delivery_id)
        ).all()
        queued = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.transport != "delivered")
        )
    assert len(per_delivery) == 60
    assert all(n == 1 for _, n in per_delivery)
    assert queued == 0


def test_unreachable_recipient_is_retried_then_failed(
    client: TestClient, credentials: dict
) -> None:
    node = node_of(client)
    with node.db.write() as session:
        session.execute(update(Agency).where(Agency.id == H26).values(node_id="elsewhere"))
    doc = send(client, auth(credentials, G22), envelope([H26]), pdf()).json()
    dispatcher = _dispatcher(client, "d", max_attempts=2)
    now = node.clock.now()
    dispatcher.complete(dispatcher.claim(now), now)
    with node.db.read() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert (delivery.transport, delivery.attempts) == ("queued", 1)
        retry_at = delivery.next_attempt_at
    assert dispatcher.claim(now + timedelta(seconds=1)) == []  # backing off
    dispatcher.complete(dispatcher.claim(retry_at), retry_at)
    view = client.get(f"/api/v1/documents/{doc['id']}", headers=auth(credentials, G22)).json()
    assert view["recipients"][0]["transport"] == "failed"
    trace = client.get(f"/api/v1/documents/{doc['id']}/trace", headers=auth(credentials, G22))
    events = [i["event"] for i in trace.json()["items"]]
    assert events[-2:] == ["routing:delivery:retry", "routing:delivery:failed"]
