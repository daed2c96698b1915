"""Webhook events reach real HTTP receivers on 127.0.0.1, signed so that the `standardwebhooks`
package (not our code) verifies them; at least once, through refusals, timeouts and receivers
that hang, without holding up other endpoints or deliveries; only to the agencies concerned and
only for the events an endpoint subscribed to."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook

from docex.agencies.models import Agency
from docex.config import Settings
from docex.documents.models import Delivery
from docex.queue import jobs
from docex.queue.models import Job
from docex.routing.deliveries import DeliveryTransport
from docex.routing.webhooks import events as webhooks
from docex.routing.webhooks.models import WebhookMessage
from docex.routing.webhooks.transport import WebhookTransport
from docex.routing.worker import Worker
from docex.vocabulary.transport import JOB_DELIVERY, JOB_WEBHOOK
from tests.helpers import G22, H26, H41, I01, audit_events, auth, envelope, node_of, pdf
from tests.helpers import send as send_document
from tests.routing.receiver import Received, receiving


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receivers listen on 127.0.0.1: the operator allows private targets here. Short
    leases and backoff so that a test runs in seconds."""
    settings.webhooks.allow_private_targets = True
    settings.webhooks.backoff_base_seconds = 0.05
    settings.webhooks.backoff_cap_seconds = 0.2
    settings.webhooks.timeout_seconds = 1.0
    settings.dispatcher.lease_seconds = 2.0
    settings.dispatcher.heartbeat_seconds = 0.2
    settings.dispatcher.poll_interval_seconds = 0.05
    return settings


def register(
    client: TestClient, credentials: dict[str, Any], agency: str, url: str, events: Any = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url}
    if events is not None:
        body["events"] = events
    answer = client.post("/api/v1/webhooks", json=body, headers=auth(credentials, agency, "system"))
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def deliver(client: TestClient) -> int:
    """Deliver the documents (only: the webhooks are the test's to pump)."""
    return node_of(client).worker.run_once(JOB_DELIVERY)


def pump(client: TestClient, at: datetime | None = None, rounds: int = 1) -> int:
    """Each round: claim every due webhook job (as of ``at``) and move it."""
    worker = node_of(client).worker
    transport = worker.transports[JOB_WEBHOOK]
    assert isinstance(transport, WebhookTransport)
    done = 0
    for _ in range(rounds):
        batch = worker.claim(JOB_WEBHOOK, at)
        if not batch:
            break
        done += worker.move(JOB_WEBHOOK, batch, at)
        assert transport.drain()
    return done


def verified(secret: str, received: Received) -> dict[str, Any]:
    """The event, once the standard library has verified its signature."""
    event: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return event


def messages(client: TestClient) -> list[WebhookMessage]:
    with node_of(client).db.read() as session:
        return list(session.scalars(select(WebhookMessage).order_by(WebhookMessage.id)))


def overdue(client: TestClient, *agencies: str) -> list[str]:
    """Queue one event for ``agencies``' endpoints (as the overdue sweep will)."""
    node = node_of(client)
    with node.db.write() as session:
        return webhooks.emit(
            session,
            webhooks.DELIVERY_OVERDUE,
            agency_ids=agencies,
            data={"document_id": "d", "delivery_id": "x"},
            now=node.clock.now(),
        )


def test_events_are_signed_as_the_standard_says_and_carry_no_content(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    with receiving() as receiver:
        hook = register(client, credentials, H41, receiver.url, ["document.delivered"])
        doc = send_document(client, auth(credentials, G22), envelope([H41]), pdf()).json()
        deliver(client)
        assert pump(client) == 1
        [got] = receiver.accepted()
    event = verified(hook["secret"], got)
    assert event["type"] == "document.delivered"
    assert event["data"] == {
        "document_id": doc["id"],
        "delivery_id": event["data"]["delivery_id"],
        "sender_id": G22,
        "recipient_id": H41,
        "status": "01",
    }
    assert got.headers["content-type"] == "application/json"
    assert got.path == "/hook"
    assert "triển khai" not in got.body.decode()  # the subject stays in the inbox
    assert "cong-van" not in got.body.decode()
    # A signature made with another secret, or over other bytes, does not verify.
    other = register(client, credentials, H41, receiver.url)["secret"]
    with pytest.raises(Exception, match="signature"):
        verified(other, got)
    with pytest.raises(Exception, match="signature"):
        verified(hook["secret"], replace(got, body=got.body.replace(b"01", b"02")))
    [message] = [m for m in messages(client) if m.id == got.message_id]
    assert (message.state, message.attempts) == ("delivered", 1)
    with node_of(client).db.read() as session:
        assert session.scalars(select(Job).where(Job.kind == JOB_WEBHOOK)).all() == []


def test_every_event_type_reaches_the_agencies_concerned_and_only_subscribed_endpoints(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    node = node_of(client)
    with receiving() as receiver:
        paths = {}
        for agency, events in ((G22, None), (H41, None), (H26, None), (I01, None)):
            hook = register(client, credentials, agency, f"{receiver.url}/{agency}", events)
            paths[hook["id"]] = (agency, hook["secret"])
        picky = register(
            client, credentials, H41, f"{receiver.url}/picky", ["document.recall_requested"]
        )
        # Delivered (01), registered (03), recalled (13) between G22 and H41.
        doc = send_document(client, auth(credentials, G22), envelope([H41]), pdf()).json()
        deliver(client)
        status = f"/api/v1/documents/{doc['id']}/statuses"
        h41 = auth(credentials, H41, "system")
        assert client.post(status, json={"code": "03"}, headers=h41).status_code == 201
        recall = {"code": "13", "note": "Ban hành nhầm"}
        assert client.post(status, json=recall, headers=auth(credentials, G22)).status_code == 201
        # A delivery to H26 that can never be made: it fails, and its sender (G22) is told.
        with node.db.write() as session:
            session.execute(update(Agency).where(Agency.id == H26).values(node_id="elsewhere"))
        failing = send_document(client, auth(credentials, G22), envelope([H26]), pdf()).json()
        transport = node.worker.transports[JOB_DELIVERY]
        assert isinstance(transport, DeliveryTransport)
        once = Worker(
            node.db,
            [replace_policy(transport)],
            node.settings.dispatcher,
            clock=node.clock,
            owner="once",
        )
        once.run_once(JOB_DELIVERY)
        with node.db.write() as session:
            [row] = session.scalars(select(Delivery).where(Delivery.document_id == failing["id"]))
            assert row.transport == "failed"
            webhooks.emit_overdue(
                session,
                document_id=doc["id"],
                delivery_id=row.id,
                sender_id=G22,
                recipient_id=H41,
                deadline=node.clock.now(),
                now=node.clock.now(),
            )
        pump(client, rounds=5)
        got = receiver.accepted()

    seen: dict[str, list[str]] = {}
    for received in got:
        endpoint = received.path.rsplit("/", 1)[-1]
        if endpoint == "picky":
            seen.setdefault("picky", []).append(verified(picky["secret"], received)["type"])
            continue
        secret = next(s for _, (a, s) in paths.items() if a == endpoint)
        event = verified(secret, received)
        seen.setdefault(endpoint, []).append(f"{event['type']} {event['data'].get('status', '')}")
    assert sorted(seen[H41]) == sorted(
        [
            "document.delivered 01",
            "document.status_changed 01",
            "document.status_changed 03",
            "document.status_changed 13",
            "document.recall_requested 13",
            "delivery.overdue ",
        ]
    )
    assert sorted(seen[G22]) == sorted(
        [
            "document.status_changed 01",
            "document.status_changed 03",
            "document.status_changed 13",
            "delivery.failed ",
            "delivery.overdue ",
        ]
    )
    assert H26 not in seen  # the recipient of the failed delivery is not told it failed
    assert I01 not in seen  # no party to anything
    assert seen["picky"] == ["document.recall_requested"]
    assert len({r.message_id for r in got}) == len(got)


def replace_policy(transport: DeliveryTransport) -> DeliveryTransport:
    return DeliveryTransport(
        transport.db,
        transport.signer,
        node_id=transport.node_id,
        deadlines=transport.deadlines,
        batch_size=transport.batch_size,
        policy=replace(transport.policy, max_attempts=1),
    )


def test_a_receiver_that_refuses_for_a_while_gets_every_event_and_nothing_more_once_delivered(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    refusals = {"left": 3}

    def behaviour(_headers: dict[str, str], _body: bytes) -> int:
        if refusals["left"] > 0:
            refusals["left"] -= 1
            return 500
        return 204

    node = node_of(client)
    with receiving(behaviour) as receiver:
        hook = register(client, credentials, H26, receiver.url)
        ids = [overdue(client, H26)[0] for _ in range(5)]
        at = node.clock.now()
        for _ in range(20):  # an hour of retries, as the backoff spaces them
            at += timedelta(minutes=3)
            pump(client, at, rounds=3)
        first_round = receiver.all()
        at += timedelta(hours=1)
        pump(client, at, rounds=3)  # everything delivered: nothing is sent again
        assert receiver.all() == first_round
    refused = [r for r in first_round if r.status == 500]
    assert len(refused) == 3
    accepted = receiver.accepted()
    assert sorted(r.message_id for r in accepted) == sorted(ids)  # each once, each signed
    for received in first_round:
        verified(hook["secret"], received)
    # The same id on every attempt: the refused sends were of messages delivered later.
    assert {r.message_id for r in refused} <= set(ids)
    assert {m.state for m in messages(client)} == {"delivered"}


def test_a_receiver_that_times_out_holds_up_no_other_endpoint_and_is_retried(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    other_got = threading.Event()
    calls: list[bool] = []

    def slow(_headers: dict[str, str], _body: bytes) -> int:
        if not calls:
            # The other endpoint's event arrives while this one is still being answered.
            calls.append(other_got.wait(0.8))
            time.sleep(1.5)  # past the node's 1 s timeout
            return 200
        calls.append(True)
        return 200

    def fast(_headers: dict[str, str], _body: bytes) -> int:
        other_got.set()
        return 200

    node = node_of(client)
    with receiving(slow) as hanging, receiving(fast) as other:
        register(client, credentials, H26, hanging.url)
        register(client, credentials, I01, other.url)
        [late] = overdue(client, H26)
        [prompt] = overdue(client, I01)
        pump(client)
        assert calls[0] is True  # sent at once, not after the slow one
        assert [r.message_id for r in other.accepted()] == [prompt]
        state = {m.id: m.state for m in messages(client)}
        assert state == {late: "queued", prompt: "delivered"}
        with node.db.read() as session:
            job = session.scalars(select(Job).where(Job.ref == late)).one()
        assert job.last_error == "timed out"
        pump(client, node.clock.now() + timedelta(seconds=1))
        time.sleep(0.2)
    assert {m.state for m in messages(client)} == {"delivered"}
    assert [r.message_id for r in hanging.all()][-1] == late


@pytest.fixture
def running(client: TestClient) -> Iterator[Worker]:
    worker = node_of(client).worker
    worker.start()
    yield worker
    worker.stop()


def test_a_receiver_that_hangs_keeps_its_lease_and_holds_up_no_deliveries(
    client: TestClient, credentials: dict[str, Any], settings: Settings, running: Worker
) -> None:
    """With the worker running (heartbeat included): while one receiver hangs for several lease
    periods, its job stays leased (no one else claims it), the other endpoint's events are
    delivered, and documents are delivered."""
    settings.webhooks.timeout_seconds = 20  # the receiver hangs until the test releases it
    hanging_now = threading.Event()
    release = threading.Event()
    sends: list[str] = []

    def hang(headers: dict[str, str], _body: bytes) -> int:
        sends.append(headers["webhook-id"])
        hanging_now.set()
        release.wait(15)
        return 200

    node = node_of(client)
    with receiving(hang) as hanging, receiving() as other:
        register(client, credentials, H26, hanging.url)
        register(client, credentials, I01, other.url)
        [stuck] = overdue(client, H26)
        running.wake()
        assert hanging_now.wait(10)
        [flowing] = overdue(client, I01)
        doc = send_document(client, auth(credentials, G22), envelope([H41]), pdf()).json()
        running.wake()
        for _ in range(200):
            view = client.get(f"/api/v1/documents/{doc['id']}", headers=auth(credentials, G22))
            if view.json()["recipients"][0]["transport"] == "delivered" and other.accepted():
                break
            time.sleep(0.05)
        assert view.json()["recipients"][0]["transport"] == "delivered"
        assert [r.message_id for r in other.accepted()] == [flowing]
        time.sleep(1.5 * settings.dispatcher.lease_seconds)  # past its lease: the heartbeat renews
        stolen = jobs.claim(
            node.db, JOB_WEBHOOK, owner="thief", limit=100, lease=timedelta(0), now=node.clock.now()
        )
        assert stolen == []
        assert sends == [stuck]  # still in its first send: no one sent it again
        release.set()
        for _ in range(200):
            if {m.state for m in messages(client)} == {"delivered"}:
                break
            time.sleep(0.05)
    assert {m.id: m.state for m in messages(client)} == {stuck: "delivered", flowing: "delivered"}
    assert [r.message_id for r in hanging.accepted()] == [stuck]


def test_disabled_and_deleted_endpoints_are_not_sent_to_and_their_jobs_go(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    with receiving() as receiver:
        off = register(client, credentials, H26, receiver.url)
        gone = register(client, credentials, I01, receiver.url)
        overdue(client, H26, I01)  # queued while both were enabled
        headers26, headers01 = auth(credentials, H26, "system"), auth(credentials, I01, "system")
        patched = client.patch(
            f"/api/v1/webhooks/{off['id']}", json={"enabled": False}, headers=headers26
        )
        assert patched.status_code == 200
        assert client.delete(f"/api/v1/webhooks/{gone['id']}", headers=headers01).status_code == 204
        assert pump(client) == 2  # completed without a send
        assert overdue(client, H26, I01) == []  # and nothing new is queued for them
        assert receiver.all() == []
    assert {m.state for m in messages(client)} == {"dropped"}
    with node_of(client).db.read() as session:
        assert session.scalars(select(Job)).all() == []


def test_a_target_is_checked_again_at_send_time(
    client: TestClient, credentials: dict[str, Any], settings: Settings
) -> None:
    with receiving() as receiver:
        register(client, credentials, H26, receiver.url)  # allowed when registered
        [message_id] = overdue(client, H26)
        settings.webhooks.allow_private_targets = False  # the operator changes their mind
        pump(client)
        assert receiver.all() == []
        with node_of(client).db.read() as session:
            job = session.scalars(select(Job).where(Job.ref == message_id)).one()
        assert job.state == "queued"
        assert job.last_error is not None
        assert job.last_error.startswith("webhook_target_forbidden")
        settings.webhooks.allow_private_targets = True
        pump(client, node_of(client).clock.now() + timedelta(seconds=1))
        assert [r.message_id for r in receiver.accepted()] == [message_id]


def test_an_event_is_given_up_after_its_time_to_live_and_that_is_audited(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    with receiving(lambda _h, _b: 503) as receiver:
        register(client, credentials, H26, receiver.url)
        [message_id] = overdue(client, H26)
        start = node_of(client).clock.now()
        pump(client, start)
        pump(client, start + timedelta(days=3, seconds=1))  # past the TTL of 3 days
        assert len(receiver.all()) == 2
    [message] = messages(client)
    assert (message.state, message.last_error) == ("failed", "answered HTTP 503")
    sample = node_of(client).metrics.registry.get_sample_value
    assert sample("docex_webhook_messages_total", {"outcome": "retry"}) == 1
    assert sample("docex_webhook_messages_total", {"outcome": "failed"}) == 1
    [event] = audit_events(client, "webhooks:message:failed")
    assert event.agency_id == H26
    assert event.detail["message_id"] == message_id
    body = json.loads(message.payload)
    assert body["type"] == "delivery.overdue"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_never_followed(
    client: TestClient, credentials: dict[str, Any], status: int
) -> None:
    with (
        receiving() as elsewhere,
        receiving(lambda _h, _b: (status, {"location": elsewhere.url})) as moved,
    ):
        register(client, credentials, H26, moved.url)
        [message_id] = overdue(client, H26)
        pump(client)
        assert [r.status for r in moved.all()] == [status]
        assert elsewhere.all() == []
    with node_of(client).db.read() as session:
        job = session.scalars(select(Job).where(Job.ref == message_id)).one()
    assert (job.state, job.last_error) == ("queued", f"answered HTTP {status}")
