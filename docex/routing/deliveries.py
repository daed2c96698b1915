"""Deliveries: one row per (document, recipient agency), with the transport state machine

    queued ──deliver──► delivered
       │ └─retry (backoff)─┘
       └──too many attempts──► failed

A delivery is created ``queued`` in the intake transaction; the dispatcher moves it on.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docex.audit import events
from docex.documents.models import Delivery, Document
from docex.routing.deadlines import deadline_rule, due_time
from docex.routing.receipts import issue_receipt
from docex.signing.jws import NodeSigner
from docex.vocabulary import statuses
from docex.vocabulary.transport import DELIVERED, FAILED, QUEUED


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
    session: Session, signer: NodeSigner, document: Document, delivery: Delivery, *, now: datetime
) -> None:
    """The recipient is hosted here: it is in its inbox now, and status 01 says so, signed."""
    delivery.transport = DELIVERED
    delivery.delivered_at = now
    delivery.updated_at = now
    delivery.status = statuses.ARRIVED
    delivery.due_at = due_time(now, document.urgency, deadline_rule(session))
    delivery.lease_owner = None
    delivery.lease_until = None
    events.record(
        session,
        events.DELIVERY_DELIVERED,
        at=now,
        agency_id=delivery.recipient_id,
        document_id=document.id,
        delivery_id=delivery.id,
        node_id=signer.node_id,
        attempt=delivery.attempts,
    )
    issue_receipt(
        session,
        signer,
        document=document,
        delivery=delivery,
        code=statuses.ARRIVED,
        from_agency_id=delivery.recipient_id,
        to_agency_id=document.sender_id,
        now=now,
    )


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 2 ** min(attempts, 12)))


def defer_or_fail(
    session: Session, delivery: Delivery, reason: str, *, now: datetime, max_attempts: int
) -> None:
    delivery.lease_owner = None
    delivery.lease_until = None
    delivery.last_error = reason[:500]
    delivery.updated_at = now
    if delivery.attempts >= max_attempts:
        delivery.transport = FAILED
        event = events.DELIVERY_FAILED
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
        event = events.DELIVERY_RETRY
    events.record(
        session,
        event,
        at=now,
        agency_id=delivery.recipient_id,
        document_id=delivery.document_id,
        delivery_id=delivery.id,
        attempt=delivery.attempts,
        reason=reason[:500],
    )
