"""A delivery the node gives up on is told to the sender (document view and outbox, with the
reason) and listed for the operator, who re-queues it: back to queued with fresh attempts, its
job due again, audited; then it is delivered once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update

from docex.agencies.models import Agency
from docex.documents.models import Delivery
from docex.queue.models import Job
from docex.routing.deliveries import DeliveryTransport
from docex.routing.models import Receipt
from docex.routing.worker import Worker
from docex.vocabulary.transport import JOB_DELIVERY
from tests.helpers import G22, H26, H41, audit_events, auth, envelope, node_of, pdf, send

ADMIN_LIST = "/api/v1/admin/deliveries"


def _worker(client: TestClient, *, max_attempts: int) -> Worker:
    node = node_of(client)
    mine = node.worker.transports[JOB_DELIVERY]
    assert isinstance(mine, DeliveryTransport)
    transport = DeliveryTransport(
        node.db,
        node.signer,
        node_id=node.settings.node_id,
        deadlines=node.settings.deadlines,
        batch_size=50,
        policy=replace(mine.policy, max_attempts=max_attempts),
    )
    return Worker(node.db, [transport], node.settings.dispatcher, clock=node.clock, owner="w")


def _move_h26(client: TestClient, node_id: str) -> None:
    with node_of(client).db.write() as session:
        session.execute(update(Agency).where(Agency.id == H26).values(node_id=node_id))


def _failed_document(client: TestClient, credentials: dict[str, Any]) -> dict[str, Any]:
    """A document to H41 (delivered) and H26, hosted on a node we have no route to: after its
    one allowed attempt, failed."""
    _move_h26(client, "elsewhere")
    document: dict[str, Any] = send(
        client, auth(credentials, G22), envelope([H41, H26]), pdf()
    ).json()
    _worker(client, max_attempts=1).run_once()
    return document


def _delivery_id(client: TestClient, recipient: str) -> str:
    with node_of(client).db.read() as session:
        return session.scalars(select(Delivery.id).where(Delivery.recipient_id == recipient)).one()


def _arrivals(client: TestClient, delivery_id: str) -> int:
    with node_of(client).db.read() as session:
        return int(
            session.scalar(
                select(func.count()).where(Receipt.delivery_id == delivery_id, Receipt.code == "01")
            )
            or 0
        )


def test_the_sender_sees_a_failed_recipient_with_the_reason(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    document = _failed_document(client, credentials)
    sender = auth(credentials, G22)
    view = client.get(f"/api/v1/documents/{document['id']}", headers=sender).json()
    rows = {r["agency_id"]: r for r in view["recipients"]}
    assert (rows[H26]["transport"], rows[H26]["reason"]) == (
        "failed",
        "no route to node 'elsewhere'",
    )
    assert (rows[H41]["transport"], rows[H41]["reason"]) == ("delivered", None)
    [item] = client.get("/api/v1/outbox", headers=sender).json()["items"]
    assert item["transport"] == {"delivered": 1, "failed": 1}
    assert [(f["agency_id"], f["reason"], f["attempts"]) for f in item["failed"]] == [
        (H26, "no route to node 'elsewhere'", 1)
    ]
    trace = client.get(f"/api/v1/documents/{document['id']}/trace", headers=sender).json()
    assert "routing:delivery:failed" in [e["event"] for e in trace["items"]]


def test_an_admin_lists_failed_and_waiting_deliveries(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    document = _failed_document(client, credentials)
    waiting = send(client, auth(credentials, G22), envelope([H26]), pdf()).json()
    _worker(client, max_attempts=5).run_once()  # one attempt: still queued, backing off
    admin = auth(credentials, "admin")

    failed = client.get(ADMIN_LIST, params={"transport": "failed"}, headers=admin)
    assert failed.status_code == 200, failed.text
    [row] = failed.json()["items"]
    assert (row["document_id"], row["sender_id"], row["recipient_id"]) == (
        document["id"],
        G22,
        H26,
    )
    assert (row["transport"], row["attempts"], row["last_error"], row["next_attempt_at"]) == (
        "failed",
        1,
        "no route to node 'elsewhere'",
        None,
    )
    assert "subject" not in row  # an operator is not a party to the document

    [queued] = client.get(ADMIN_LIST, params={"transport": "queued"}, headers=admin).json()["items"]
    assert (queued["document_id"], queued["transport"], queued["attempts"]) == (
        waiting["id"],
        "queued",
        1,
    )
    assert queued["last_error"] == "no route to node 'elsewhere'"
    assert queued["next_attempt_at"] is not None
    assert queued["leased_by"] is None

    # Both, oldest first, a page at a time.
    first = client.get(ADMIN_LIST, params={"limit": 1}, headers=admin).json()
    assert [i["document_id"] for i in first["items"]] == [document["id"]]
    second = client.get(
        ADMIN_LIST, params={"limit": 1, "cursor": first["next_cursor"]}, headers=admin
    ).json()
    assert [i["document_id"] for i in second["items"]] == [waiting["id"]]
    assert second["next_cursor"] is None


def test_the_dead_letter_view_is_for_admins_only(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    _failed_document(client, credentials)
    delivery_id = _delivery_id(client, H26)
    for who, role in ((G22, "clerk"), (G22, "system"), (H26, "leader"), ("auditor", "clerk")):
        headers = auth(credentials, who, role)
        listed = client.get(ADMIN_LIST, headers=headers)
        assert (listed.status_code, listed.json()["error"]) == (403, "forbidden"), who
        retried = client.post(f"{ADMIN_LIST}/{delivery_id}/retry", json={}, headers=headers)
        assert (retried.status_code, retried.json()["error"]) == (403, "forbidden"), who
    assert client.get(ADMIN_LIST).status_code == 401
    with node_of(client).db.read() as session:
        assert session.scalars(
            select(Delivery.transport).where(Delivery.id == delivery_id)
        ).one() == ("failed")


def test_bad_requests_to_the_dead_letter_view_are_refused(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    admin = auth(credentials, "admin")
    wrong = client.get(ADMIN_LIST, params={"transport": "delivered"}, headers=admin)
    assert wrong.status_code == 422
    assert (
        client.get(ADMIN_LIST, params={"cursor": "nonsense"}, headers=admin).json()["error"]
        == "invalid_cursor"
    )
    unknown = client.post(
        f"{ADMIN_LIST}/01a21529-0000-7000-8000-000000000000/retry", json={}, headers=admin
    )
    assert (unknown.status_code, unknown.json()["error"]) == (404, "delivery_not_found")
    extra = client.post(f"{ADMIN_LIST}/x/retry", json={"force": True}, headers=admin)
    assert extra.status_code == 422


def test_a_failed_delivery_is_requeued_then_delivered_once(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    document = _failed_document(client, credentials)
    admin = auth(credentials, "admin")
    failed_id, delivered_id = _delivery_id(client, H26), _delivery_id(client, H41)

    not_failed = client.post(f"{ADMIN_LIST}/{delivered_id}/retry", json={}, headers=admin)
    assert (not_failed.status_code, not_failed.json()["error"]) == (409, "delivery_not_failed")

    retried = client.post(
        f"{ADMIN_LIST}/{failed_id}/retry", json={"note": "route restored"}, headers=admin
    )
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert (body["id"], body["transport"], body["attempts"], body["last_error"]) == (
        failed_id,
        "queued",
        0,
        None,
    )
    assert body["next_attempt_at"] is not None
    with node_of(client).db.read() as session:
        job = session.scalars(select(Job).where(Job.ref == failed_id)).one()
        assert (job.state, job.attempts, job.last_error) == ("queued", 0, None)
    [event] = audit_events(client, "routing:delivery:requeued")
    assert event.actor_id is not None
    assert event.detail == {
        "delivery_id": failed_id,
        "attempts": 1,
        "reason": "no route to node 'elsewhere'",
        "note": "route restored",
    }
    again = client.post(f"{ADMIN_LIST}/{failed_id}/retry", json={}, headers=admin)
    assert (again.status_code, again.json()["error"]) == (409, "delivery_not_failed")
    assert len(audit_events(client, "routing:delivery:requeued")) == 1

    _move_h26(client, node_of(client).settings.node_id)  # the route is back
    assert _worker(client, max_attempts=1).run_once() == 1
    assert _arrivals(client, failed_id) == 1
    view = client.get(f"/api/v1/documents/{document['id']}", headers=auth(credentials, G22))
    rows = {r["agency_id"]: r for r in view.json()["recipients"]}
    assert (rows[H26]["transport"], rows[H26]["reason"]) == ("delivered", None)
    with node_of(client).db.read() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_a_failed_delivery_without_a_job_gets_one_when_requeued(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    """Deliveries that failed before the outbound queue existed have no job (migration 0007
    moved only queued ones): the re-queue gives them one."""
    _failed_document(client, credentials)
    failed_id = _delivery_id(client, H26)
    with node_of(client).db.write() as session:
        session.execute(delete(Job).where(Job.ref == failed_id))
    response = client.post(
        f"{ADMIN_LIST}/{failed_id}/retry", json={}, headers=auth(credentials, "admin")
    )
    assert response.status_code == 200, response.text
    _move_h26(client, node_of(client).settings.node_id)
    assert _worker(client, max_attempts=1).run_once() == 1
    assert _arrivals(client, failed_id) == 1


def _resend(document_id: str, recipient: str) -> str:
    return f"/api/v1/documents/{document_id}/deliveries/{recipient}/retry"


def test_the_sender_s_clerk_re_sends_its_failed_delivery_through_the_api(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    document = _failed_document(client, credentials)
    failed_id = _delivery_id(client, H26)
    path = _resend(document["id"], H26)
    for who, role, status, error in (
        (G22, "leader", 403, "forbidden"),
        (H41, "clerk", 403, "forbidden"),
        ("auditor", "clerk", 403, "forbidden"),
        (H26, "clerk", 404, "document_not_found"),
        ("admin", "clerk", 404, "document_not_found"),
    ):
        refused = client.post(path, json={}, headers=auth(credentials, who, role))
        assert (refused.status_code, refused.json()["error"]) == (status, error), who
    stranger = client.post(
        _resend(document["id"], "000.00.00.I01"), json={}, headers=auth(credentials, G22)
    )
    assert (stranger.status_code, stranger.json()["error"]) == (404, "delivery_not_found")
    assert audit_events(client, "routing:delivery:requeued") == []

    retried = client.post(path, json={"note": "đã thông tuyến"}, headers=auth(credentials, G22))
    assert retried.status_code == 200, retried.text
    assert (retried.json()["id"], retried.json()["transport"]) == (failed_id, "queued")
    [event] = audit_events(client, "routing:delivery:requeued")
    assert event.detail["note"] == "đã thông tuyến"
    again = client.post(path, json={}, headers=auth(credentials, G22, "system"))
    assert (again.status_code, again.json()["error"]) == (409, "delivery_not_failed")

    _move_h26(client, node_of(client).settings.node_id)
    assert _worker(client, max_attempts=1).run_once() == 1
    assert _arrivals(client, failed_id) == 1
