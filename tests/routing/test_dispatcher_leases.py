"""A dispatcher that stops gives its leases back: another takes the deliveries at once, not
after ``lease_seconds``."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from docex.documents.models import Delivery
from docex.routing.dispatcher import Dispatcher
from tests.helpers import G22, H26, H41, auth, envelope, node_of, pdf, send


def _dispatcher(client: TestClient, owner: str) -> Dispatcher:
    node = node_of(client)
    return Dispatcher(
        node.db,
        node.signer,
        node.settings.dispatcher.model_copy(update={"lease_seconds": 3600}),
        node_id=node.settings.node_id,
        clock=node.clock,
        owner=owner,
    )


def test_released_leases_are_claimed_by_another_dispatcher_at_once(
    client: TestClient, credentials: dict
) -> None:
    send(client, auth(credentials, G22), envelope([H41, H26]), pdf())
    first, second = _dispatcher(client, "first"), _dispatcher(client, "second")
    claimed = first.claim()
    assert len(claimed) == 2
    assert second.claim() == []  # leased for an hour

    assert first.release() == 2
    with node_of(client).db.read() as session:
        rows = session.scalars(select(Delivery)).all()
    assert [(r.lease_owner, r.lease_until) for r in rows] == [(None, None)] * 2
    assert sorted(second.claim()) == sorted(claimed)
    assert first.release() == 0  # the other dispatcher's leases are not ours to give back
    assert second.complete(claimed) == 2


def test_stopping_the_dispatcher_loop_releases_what_it_holds(
    client: TestClient, credentials: dict
) -> None:
    send(client, auth(credentials, G22), envelope([H41]), pdf())
    dispatcher = _dispatcher(client, "looping")
    [held] = dispatcher.claim()  # leased for an hour: the loop cannot take it again
    dispatcher.start()
    dispatcher.stop()
    with node_of(client).db.read() as session:
        delivery = session.get(Delivery, held)
        assert delivery is not None
        assert (delivery.transport, delivery.lease_owner, delivery.lease_until) == (
            "queued",
            None,
            None,
        )
