"""The routing worker delivers each delivery exactly once, in urgency order; a crashed
claimer's work is picked up again one lease later; a worker that stops gives its leases back."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from docex.agencies.models import Agency
from docex.documents.models import Delivery
from docex.queue import jobs
from docex.queue.jobs import Claimed
from docex.queue.models import Job
from docex.routing.deliveries import DeliveryTransport
from docex.routing.models import Receipt
from docex.routing.worker import Worker
from docex.vocabulary.transport import JOB_DELIVERY
from tests.helpers import G22, H26, H41, auth, envelope, node_of, pdf, send


def _worker(
    client: TestClient, owner: str, *, max_attempts: int | None = None, **overrides: object
) -> Worker:
    """A second worker on the node's database, with its own name and settings."""
    node = node_of(client)
    settings = node.settings.dispatcher.model_copy(update=overrides)
    mine = node.worker.transports[JOB_DELIVERY]
    assert isinstance(mine, DeliveryTransport)
    policy = (
        mine.policy if max_attempts is None else replace(mine.policy, max_attempts=max_attempts)
    )
    transport = DeliveryTransport(
        node.db,
        node.signer,
        node_id=node.settings.node_id,
        deadlines=node.settings.deadlines,
        batch_size=settings.batch_size,
        policy=policy,
    )
    return Worker(node.db, [transport], settings, clock=node.clock, owner=owner)


def _arrivals(client: TestClient) -> int:
    with node_of(client).db.read() as session:
        return int(session.scalar(select(func.count()).where(Receipt.code == "01")) or 0)


def _claim(worker: Worker, at: datetime | None = None) -> list[Claimed]:
    return worker.claim(JOB_DELIVERY, at)


def test_a_crashed_claimers_deliveries_are_taken_over_one_lease_later(
    client: TestClient, credentials: dict
) -> None:
    send(client, auth(credentials, G22), envelope([H41, H26]), pdf())
    crashed = _worker(client, "crashed", lease_seconds=6)
    survivor = _worker(client, "survivor", lease_seconds=6)
    now = node_of(client).clock.now()

    claimed = _claim(crashed, now)  # ... and the process dies before completing
    assert len(claimed) == 2
    assert _claim(survivor, now + timedelta(seconds=5)) == []  # lease still held

    later = now + timedelta(seconds=7)
    taken = _claim(survivor, later)
    assert sorted(j.id for j in taken) == sorted(j.id for j in claimed)
    assert survivor.move(JOB_DELIVERY, taken, later) == 2
    # The crashed process comes back and tries to finish its old batch: nothing happens twice.
    assert crashed.move(JOB_DELIVERY, claimed, later) == 0
    assert _arrivals(client) == 2


def test_the_heartbeat_keeps_a_slow_workers_lease(client: TestClient, credentials: dict) -> None:
    send(client, auth(credentials, G22), envelope([H41]), pdf())
    slow = _worker(client, "slow", lease_seconds=6)
    other = _worker(client, "other", lease_seconds=6)
    node = node_of(client)
    now = node.clock.now()
    [held] = _claim(slow, now)
    # Five seconds on, the slow worker's heartbeat renews its lease for six more...
    assert (
        jobs.heartbeat(node.db, "slow", lease=timedelta(seconds=6), now=now + timedelta(seconds=5))
        == 1
    )
    assert jobs.heartbeat(node.db, "other", lease=timedelta(seconds=6), now=now) == 0
    # ... so past the first lease the job is still its own.
    assert _claim(other, now + timedelta(seconds=8)) == []
    assert len(_claim(other, now + timedelta(seconds=12))) == 1  # the heartbeat stopped: free
    assert slow.move(JOB_DELIVERY, [held]) == 0  # and the slow worker's token is worth nothing


def test_flash_documents_jump_the_queue(client: TestClient, credentials: dict) -> None:
    for _ in range(3):
        send(client, auth(credentials, G22), envelope(urgency="normal"), pdf())
    flash = send(client, auth(credentials, G22), envelope(urgency="flash"), pdf()).json()
    urgent = send(client, auth(credentials, G22), envelope(urgency="urgent"), pdf()).json()
    one_at_a_time = _worker(client, "d1", batch_size=1)
    order = []
    for _ in range(5):
        [job] = one_at_a_time.claim(JOB_DELIVERY, limit=1)
        with node_of(client).db.read() as session:
            order.append(session.get(Delivery, job.ref).document_id)  # type: ignore[union-attr]
        one_at_a_time.move(JOB_DELIVERY, [job])
    assert order[:2] == [flash["id"], urgent["id"]]


def test_concurrent_workers_deliver_each_delivery_exactly_once(
    client: TestClient, credentials: dict
) -> None:
    for _ in range(30):
        send(client, auth(credentials, G22), envelope(["group:provinces"]), pdf())
    workers = [_worker(client, f"d{i}", batch_size=4) for i in range(4)]
    errors: list[BaseException] = []

    def run(w: Worker) -> None:
        try:
            w.run_once()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    node_of(client).worker.run_once()  # whatever a busy loser left behind
    with node_of(client).db.read() as session:
        per_delivery = session.execute(
            select(Receipt.delivery_id, func.count())
            .where(Receipt.code == "01")
            .group_by(Receipt.delivery_id)
        ).all()
        queued = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.transport != "delivered")
        )
        jobs_left = session.scalar(select(func.count()).select_from(Job))
    assert len(per_delivery) == 60
    assert all(n == 1 for _, n in per_delivery)
    assert queued == 0
    assert jobs_left == 0  # a completed job is gone with its effect


def test_unreachable_recipient_is_retried_then_failed_and_the_sender_told(
    client: TestClient, credentials: dict
) -> None:
    node = node_of(client)
    with node.db.write() as session:
        session.execute(update(Agency).where(Agency.id == H26).values(node_id="elsewhere"))
    doc = send(client, auth(credentials, G22), envelope([H26]), pdf()).json()
    worker = _worker(client, "d", max_attempts=2)
    now = node.clock.now()
    worker.move(JOB_DELIVERY, _claim(worker, now), now)
    with node.db.read() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert (delivery.transport, delivery.attempts) == ("queued", 1)
        job = session.scalars(select(Job)).one()
        retry_at = job.due_at
    assert timedelta(seconds=1) <= retry_at - now <= timedelta(seconds=2)  # base 2 s, jittered
    assert _claim(worker, now + timedelta(milliseconds=900)) == []  # backing off
    worker.move(JOB_DELIVERY, _claim(worker, retry_at), retry_at)
    view = client.get(f"/api/v1/documents/{doc['id']}", headers=auth(credentials, G22)).json()
    assert view["recipients"][0]["transport"] == "failed"
    trace = client.get(f"/api/v1/documents/{doc['id']}/trace", headers=auth(credentials, G22))
    events = [i["event"] for i in trace.json()["items"]]
    assert events[-2:] == ["routing:delivery:retry", "routing:delivery:failed"]
    with node.db.read() as session:
        job = session.scalars(select(Job)).one()
    assert (job.state, job.last_error) == ("failed", "no route to node 'elsewhere'")


def test_released_leases_are_claimed_by_another_worker_at_once(
    client: TestClient, credentials: dict
) -> None:
    send(client, auth(credentials, G22), envelope([H41, H26]), pdf())
    first = _worker(client, "first", lease_seconds=3600)
    second = _worker(client, "second", lease_seconds=3600)
    claimed = _claim(first)
    assert len(claimed) == 2
    assert _claim(second) == []  # leased for an hour

    assert first.release() == 2
    with node_of(client).db.read() as session:
        rows = session.execute(select(Job.lease_owner, Job.lease_token, Job.lease_until)).all()
    assert [tuple(r) for r in rows] == [(None, None, None)] * 2
    again = _claim(second)
    assert sorted(j.id for j in again) == sorted(j.id for j in claimed)
    assert first.release() == 0  # the other worker's leases are not ours to give back
    assert first.move(JOB_DELIVERY, claimed) == 0  # our old tokens are worth nothing now
    assert second.move(JOB_DELIVERY, again) == 2


def test_stopping_the_worker_releases_what_it_holds(client: TestClient, credentials: dict) -> None:
    send(client, auth(credentials, G22), envelope([H41]), pdf())
    worker = _worker(client, "looping", lease_seconds=3600)
    [held] = _claim(worker)  # leased for an hour: the loop cannot take it again
    worker.start()
    worker.stop()
    with node_of(client).db.read() as session:
        job = session.get(Job, held.id)
        assert job is not None
        assert (job.state, job.lease_owner, job.lease_until) == ("queued", None, None)
