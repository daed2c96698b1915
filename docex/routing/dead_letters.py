"""What an operator sees of the deliveries not (yet) made, and the re-queue of a failed one.

A delivery the queue gave up on (``failed``: its job's attempts or time-to-live used up) stays
failed until an operator sends it round again: :func:`requeue_delivery` puts the delivery back
to ``queued`` and its job (``docex.queue.jobs.requeue``) with fresh attempts and a fresh TTL, and
records ``routing:delivery:requeued`` in the same transaction. The delivery row is locked first,
so two operators retrying at once re-queue it once; the second is told it is no longer failed.

The sending agency's clerks do the same for their own document's recipients (:func:`resend`,
``Action.RESEND``): the same re-queue, the same event, its actor the clerk.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from docex.audit import events
from docex.auth.policy import Action, Actor, authorize
from docex.documents.access import deliveries_of, get_document, parties_of
from docex.documents.models import Delivery, Document
from docex.errors import Conflict, NotFound
from docex.kit.clock import rfc3339
from docex.kit.pagination import decode_cursor, encode_cursor
from docex.queue import jobs
from docex.queue.models import Job
from docex.routing.schemas import QueuedDelivery, QueuedDeliveryPage
from docex.vocabulary.transport import FAILED, JOB_DELIVERY, QUEUED

# What the operator's view lists: deliveries the worker has not made, failed or still waiting.
LISTED = (FAILED, QUEUED)


def list_deliveries(
    session: Session, *, transport: str | None, limit: int, cursor: str | None
) -> QueuedDeliveryPage:
    """Deliveries that are ``failed`` or ``queued`` (``transport``; both when None), oldest
    first, with their job's attempts, last error and next attempt time."""
    query = (
        select(Delivery, Document.sender_id, Document.urgency, Job)
        .join(Document, Document.id == Delivery.document_id)
        .outerjoin(Job, and_(Job.kind == JOB_DELIVERY, Job.ref == Delivery.id))
        .where(Delivery.transport.in_([transport] if transport else LISTED))
    )
    if cursor:
        (after,) = decode_cursor(cursor, str)
        query = query.where(Delivery.id > after)
    rows = session.execute(query.order_by(Delivery.id).limit(limit + 1)).all()
    items = [
        _out(delivery, sender_id, urgency, job)
        for delivery, sender_id, urgency, job in rows[:limit]
    ]
    next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
    return QueuedDeliveryPage(items=items, next_cursor=next_cursor)


def _out(delivery: Delivery, sender_id: str, urgency: str, job: Job | None) -> QueuedDelivery:
    waiting = job is not None and job.state == jobs.QUEUED
    leased = waiting and job is not None and job.lease_owner is not None
    return QueuedDelivery(
        id=delivery.id,
        document_id=delivery.document_id,
        sender_id=sender_id,
        recipient_id=delivery.recipient_id,
        addressed_as=delivery.addressed_as,
        urgency=urgency,
        transport=delivery.transport,
        attempts=job.attempts if job is not None else delivery.attempts,
        last_error=(job.last_error if job is not None else None) or delivery.last_error,
        next_attempt_at=rfc3339(job.due_at) if waiting and job is not None else None,
        leased_by=job.lease_owner if leased and job is not None else None,
        created_at=rfc3339(delivery.created_at),
        updated_at=rfc3339(delivery.updated_at),
    )


def requeue_delivery(
    session: Session, delivery_id: str, *, actor_id: str, now: datetime, note: str | None = None
) -> QueuedDelivery:
    """A failed delivery goes round again: ``queued``, fresh attempts, its job due now."""
    delivery = session.scalars(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    ).one_or_none()
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}", code="delivery_not_found")
    if delivery.transport != FAILED:
        raise Conflict(
            f"the delivery is {delivery.transport}, not failed: only a failed delivery is "
            "re-queued",
            code="delivery_not_failed",
        )
    if not jobs.requeue(session, JOB_DELIVERY, delivery.id, now=now):
        # Failed before the outbound queue existed (migration 0007 moved only queued ones):
        # it gets its job now.
        jobs.enqueue(session, JOB_DELIVERY, [delivery.id], now=now, priority=delivery.priority)
    events.record(
        session,
        events.DELIVERY_REQUEUED,
        at=now,
        actor_id=actor_id,
        agency_id=delivery.recipient_id,
        document_id=delivery.document_id,
        delivery_id=delivery.id,
        attempts=delivery.attempts,
        reason=delivery.last_error,
        note=note,
    )
    delivery.transport = QUEUED
    delivery.attempts = 0
    delivery.last_error = None
    delivery.updated_at = now
    session.flush()
    document = session.get_one(Document, delivery.document_id)
    job = session.scalars(
        select(Job).where(Job.kind == JOB_DELIVERY, Job.ref == delivery.id)
    ).one_or_none()
    return _out(delivery, document.sender_id, document.urgency, job)


def resend(
    session: Session,
    actor: Actor,
    document_id: str,
    recipient_id: str,
    *,
    now: datetime,
    note: str | None = None,
) -> QueuedDelivery:
    """The sender's re-send: ``requeue_delivery`` of the document's failed delivery to
    ``recipient_id``, for whom the policy allows it (``Action.RESEND``). DocumentNotFound for
    whoever may not see the document, ``delivery_not_found`` for an agency it was not sent to,
    ``delivery_not_failed`` for a delivery that is not failed."""
    document = get_document(session, document_id)
    deliveries = deliveries_of(session, document.id)
    authorize(actor, Action.RESEND, parties_of(document, deliveries))
    delivery = next((d for d in deliveries if d.recipient_id == recipient_id), None)
    if delivery is None:
        raise NotFound("the document was not sent to this agency", code="delivery_not_found")
    return requeue_delivery(session, delivery.id, actor_id=actor.id, now=now, note=note)
