"""A document's deliveries: one row per recipient agency, created ``queued`` in the intake
transaction. From there the routing engine (``docex.routing``) moves them on; this package only
creates them and reads them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from docex.agencies.service import Recipient
from docex.audit import events
from docex.documents.models import Delivery, Document
from docex.kit.ids import uuid7
from docex.queue import jobs
from docex.vocabulary.transport import JOB_DELIVERY, QUEUED


def queue_deliveries(
    session: Session,
    document: Document,
    recipients: Sequence[Recipient],
    *,
    priority: int,
    now: datetime,
    actor_id: str,
) -> list[Delivery]:
    rows = []
    for recipient in recipients:
        delivery = Delivery(
            id=uuid7(),
            document_id=document.id,
            recipient_id=recipient.agency_id,
            addressed_as=recipient.addressed_as,
            transport=QUEUED,
            status=None,
            priority=priority,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        rows.append(delivery)
        detail: dict[str, object] = {
            "delivery_id": delivery.id,
            "addressed_as": recipient.addressed_as,
        }
        if recipient.via:
            detail["succession"] = [*recipient.via, recipient.agency_id]
        events.record(
            session,
            events.DELIVERY_QUEUED,
            at=now,
            actor_id=actor_id,
            agency_id=recipient.agency_id,
            document_id=document.id,
            **detail,
        )
    session.add_all(rows)
    jobs.enqueue(session, JOB_DELIVERY, [row.id for row in rows], now=now, priority=priority)
    return rows
