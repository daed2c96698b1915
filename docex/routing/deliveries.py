"""Deliveries: one row per (document, recipient agency), with the transport state machine

    queued ──deliver──► delivered
       │ └─retry (backoff)─┘
       └──attempts or TTL used up──► failed ──requeue (an operator)──► queued

A delivery and its job (``docex.queue``, kind ``delivery``) are created in the intake
transaction; the routing worker hands the job to :class:`DeliveryTransport`. A recipient
hosted on another node is carried there by a transfer to the next hop
(``docex.federation.documents``): the job completes, the delivery stays ``queued`` until the
recipient's node sends its 01 back, and ``waiting_for`` names the peer while that transfer
waits for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docex.agencies.models import Agency
from docex.audit import events
from docex.config import DeadlineSettings
from docex.db import Database
from docex.documents.models import Delivery, Document
from docex.federation import peers
from docex.federation.documents import queue_document
from docex.kit.faults import DELIVERY_BEFORE_COMMIT, crash_point
from docex.queue import jobs
from docex.queue.jobs import Claimed, RetryPolicy
from docex.routing.deadlines import due_time
from docex.routing.receipts import issue_arrivals
from docex.routing.webhooks import events as webhooks
from docex.signing.jws import NodeSigner
from docex.vocabulary import statuses
from docex.vocabulary.transport import DELIVERED, FAILED, JOB_DELIVERY, QUEUED


def queued_to(session: Session, agency_id: str) -> int:
    """How many deliveries to ``agency_id`` are still waiting to be delivered."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.recipient_id == agency_id, Delivery.transport == QUEUED)
        )
        or 0
    )


def deliver_locally(
    session: Session,
    signer: NodeSigner,
    delivered: Sequence[tuple[Document, Delivery]],
    *,
    now: datetime,
    deadlines: DeadlineSettings,
) -> None:
    """The recipients are hosted here: each document is in its recipient's inbox now, and
    status 01 says so, signed; from now on the receipt rule's clock runs
    (``deadlines.due_time``). One call for a whole batch: its events and receipts go in bulk."""
    if not delivered:
        return
    for document, delivery in delivered:
        delivery.transport = DELIVERED
        delivery.node_id = signer.node_id
        delivery.delivered_at = now
        delivery.updated_at = now
        delivery.status = statuses.ARRIVED
        delivery.due_at = due_time(now, document.urgency, deadlines)
    events.record_many(
        session,
        events.DELIVERY_DELIVERED,
        [
            {
                "agency_id": delivery.recipient_id,
                "document_id": document.id,
                "delivery_id": delivery.id,
                "node_id": signer.node_id,
                "attempt": delivery.attempts,
            }
            for document, delivery in delivered
        ],
        at=now,
    )
    for document, delivery in delivered:
        webhooks.emit(
            session,
            webhooks.DOCUMENT_DELIVERED,
            agency_ids=[delivery.recipient_id],
            data=webhooks.delivery_data(
                document_id=document.id,
                delivery_id=delivery.id,
                sender_id=document.sender_id,
                recipient_id=delivery.recipient_id,
                status=statuses.ARRIVED,
            ),
            now=now,
        )
    issue_arrivals(session, signer, delivered, now=now)


class DeliveryTransport:
    """Moves deliveries to the agencies this node hosts: the recipient's inbox and a signed 01,
    completed in one transaction with the job. Deliveries to agencies hosted on other nodes
    become transfers: one per (document, next hop) in the batch, however many recipients it
    carries (a broadcast sends each next hop one). A recipient on a node the directory gives no
    way to waits ("no route") and, once the job's attempts or TTL are used up, fails for good,
    and the sender is told."""

    kind = JOB_DELIVERY

    def __init__(
        self,
        db: Database,
        signer: NodeSigner,
        *,
        node_id: str,
        deadlines: DeadlineSettings,
        batch_size: int,
        policy: RetryPolicy,
        on_failure: Callable[[str], object] | None = None,
    ) -> None:
        self.db = db
        self.signer = signer
        self.node_id = node_id
        self.deadlines = deadlines
        self.batch_size = batch_size
        self.policy = policy
        # Told "retry" or "failed" for each delivery attempt that failed (the metrics).
        self.on_failure = on_failure

    def move(self, batch: Sequence[Claimed], now: datetime) -> int:
        outcomes: list[str] = []
        with self.db.write() as session:
            by_ref = {job.ref: job for job in batch}
            rows = {
                d.id: d
                for d in session.scalars(select(Delivery).where(Delivery.id.in_(list(by_ref))))
            }
            homes = dict(
                session.execute(
                    select(Agency.id, Agency.node_id).where(
                        Agency.id.in_(list({r.recipient_id for r in rows.values()}))
                    )
                ).all()
            )
            here = [
                job
                for job in batch
                if job.ref not in rows  # nothing left to move: the job just goes
                or rows[job.ref].transport != QUEUED
                or homes.get(rows[job.ref].recipient_id) == self.node_id
            ]
            taken = {job.id for job in here}
            hops: dict[str, str | None] = {}
            for job in batch:
                node = homes.get(rows[job.ref].recipient_id) if job.id not in taken else None
                if node is not None and node not in hops:
                    hops[node] = peers.next_hop(session, self.node_id, node)
            away = [
                job
                for job in batch
                if job.id not in taken
                and hops.get(homes.get(rows[job.ref].recipient_id) or "") is not None
            ]
            done = jobs.complete(session, [*here, *away])
            taken |= {job.id for job in away}
            waiting = [job for job in batch if job.id not in taken]
            moving = [rows[j.ref] for j in [*here, *away] if j.id in done and j.ref in rows]
            wanted = list({delivery.document_id for delivery in moving})
            documents = {
                d.id: d for d in session.scalars(select(Document).where(Document.id.in_(wanted)))
            }
            arriving: list[tuple[Document, Delivery]] = []
            for job in here:
                delivery = rows.get(job.ref)
                if job.id not in done or delivery is None or delivery.transport != QUEUED:
                    continue
                delivery.attempts = job.attempts
                arriving.append((documents[delivery.document_id], delivery))
            deliver_locally(session, self.signer, arriving, now=now, deadlines=self.deadlines)
            forwarded = [j for j in away if j.id in done]
            along = self._forward(session, forwarded, rows, homes, hops, documents, now)
            delivered = len(arriving) + len(forwarded) + along
            for job in waiting:
                delivery = rows[job.ref]
                reason = f"no route to node {homes.get(delivery.recipient_id)!r}"
                state = jobs.retry(session, job, reason, now=now, policy=self.policy)
                if state is not None:
                    final = state == jobs.FAILED
                    record_failure(session, delivery, job.attempts, reason, now=now, final=final)
                    outcomes.append("failed" if final else "retry")
            if delivered:
                session.flush()  # every effect written, nothing committed: the worst moment
                crash_point(DELIVERY_BEFORE_COMMIT)
        if self.on_failure is not None:
            for outcome in outcomes:
                self.on_failure(outcome)
        return delivered

    def _forward(
        self,
        session: Session,
        away: Sequence[Claimed],
        rows: dict[str, Delivery],
        homes: dict[str, str],
        hops: dict[str, str | None],
        documents: dict[str, Document],
        now: datetime,
    ) -> int:
        """The deliveries to other nodes, grouped by (document, next hop): one transfer each,
        carrying the document's other deliveries behind that hop too; how many of those."""
        moving = [(rows[job.ref], homes[rows[job.ref].recipient_id], job.attempts) for job in away]
        carried = len(moving)
        moving += self._along(session, {d.document_id for d, _, _ in moving}, moving, hops, now)
        groups: dict[tuple[str, str], list[Delivery]] = {}
        for delivery, node, attempts in moving:
            delivery.attempts = attempts
            delivery.node_id = node
            delivery.updated_at = now
            hop = hops[node]
            if hop is not None:
                groups.setdefault((delivery.document_id, hop), []).append(delivery)
        for (document_id, hop), group in groups.items():
            queue_document(session, self.signer, documents[document_id], group, peer=hop, now=now)
        return len(moving) - carried

    def _along(
        self,
        session: Session,
        document_ids: set[str],
        moving: Sequence[tuple[Delivery, str, int]],
        hops: dict[str, str | None],
        now: datetime,
    ) -> list[tuple[Delivery, str, int]]:
        """The moving documents' other queued deliveries behind a next hop they already go to,
        that no worker holds (a broadcast larger than a batch), with their node and attempts:
        they travel in the same transfer, so each next hop gets one transfer per document, not
        one per batch. One query for the whole batch."""
        if not document_ids:
            return []
        going = {(d.document_id, hops[node]) for d, node, _ in moving}
        skip = {d.id for d, _, _ in moving}
        found: dict[str, tuple[Delivery, str]] = {}
        for delivery, node in session.execute(
            select(Delivery, Agency.node_id)
            .join(Agency, Agency.id == Delivery.recipient_id)
            .where(
                Delivery.document_id.in_(sorted(document_ids)),
                Delivery.transport == QUEUED,
                Agency.node_id.is_not(None),
                Agency.node_id != self.node_id,
            )
        ).all():
            if delivery.id in skip or node is None:
                continue
            if node not in hops:
                hops[node] = peers.next_hop(session, self.node_id, node)
            if (delivery.document_id, hops[node]) in going and hops[node] is not None:
                found[delivery.id] = (delivery, node)
        taken = jobs.take_along(session, JOB_DELIVERY, sorted(found), now=now)
        return [(*found[ref], attempts) for ref, attempts in sorted(taken.items())]


def record_failure(
    session: Session, delivery: Delivery, attempts: int, reason: str, *, now: datetime, final: bool
) -> None:
    """An attempt failed: the delivery keeps the reason (the sender sees it) and, when the
    queue gave up, becomes ``failed``; the trace says which."""
    delivery.attempts = attempts
    delivery.last_error = reason[:500]
    delivery.updated_at = now
    if final:
        delivery.transport = FAILED
    event = events.DELIVERY_FAILED if final else events.DELIVERY_RETRY
    events.record(
        session,
        event,
        at=now,
        agency_id=delivery.recipient_id,
        document_id=delivery.document_id,
        delivery_id=delivery.id,
        attempt=attempts,
        reason=reason[:500],
    )
    if final:
        sender_id = session.scalars(
            select(Document.sender_id).where(Document.id == delivery.document_id)
        ).one()
        webhooks.emit(
            session,
            webhooks.DELIVERY_FAILED,
            agency_ids=[sender_id],
            data=webhooks.delivery_data(
                document_id=delivery.document_id,
                delivery_id=delivery.id,
                sender_id=sender_id,
                recipient_id=delivery.recipient_id,
                error=reason[:500],
            ),
            now=now,
        )
