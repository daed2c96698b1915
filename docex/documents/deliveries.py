"""A document's deliveries: one row per recipient agency, created ``queued`` in the intake
transaction. From there the routing engine (``docex.routing``) moves them on; this package only
creates them and reads them.

A broadcast to a group of thousands (every commune) costs a bounded number of statements:
the rows go in with one bulk INSERT, and each group the sender named gets one audit event
(``intake:recipient:resolved``) listing what it expanded to, delivery by delivery, instead of
one ``routing:delivery:queued`` event per recipient. A recipient named by its code still gets
its own ``routing:delivery:queued`` (a recipient's trace shows it; the group's event is seen by
the sender and auditors, since it names every member)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from docex.agencies.service import Recipient
from docex.audit import events
from docex.documents.models import Delivery, Document
from docex.kit.ids import uuid7
from docex.queue import jobs
from docex.vocabulary.codes import GROUP_PREFIX
from docex.vocabulary.transport import JOB_DELIVERY, QUEUED


def queue_deliveries(
    session: Session,
    document: Document,
    recipients: Sequence[Recipient],
    *,
    priority: int,
    now: datetime,
    actor_id: str | None,
) -> list[Delivery]:
    """Insert one queued delivery per recipient (one statement for all of them) and record how
    each was addressed (``actor_id`` None: a document received from another node). Returns the
    deliveries, in ``recipients`` order, as unattached objects
    (their rows are in the database; the session does not track them)."""
    rows: list[dict[str, Any]] = [
        {
            "id": uuid7(),
            "document_id": document.id,
            "recipient_id": recipient.agency_id,
            "addressed_as": recipient.addressed_as,
            "transport": QUEUED,
            "status": None,
            "priority": priority,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for recipient in recipients
    ]
    session.flush()  # the document row first: the bulk insert bypasses the unit of work
    session.execute(insert(Delivery), rows)
    expansions: dict[str, list[dict[str, object]]] = {}
    for recipient, row in zip(recipients, rows, strict=True):
        entry: dict[str, object] = {"delivery_id": row["id"]}
        if recipient.via:
            entry["succession"] = [*recipient.via, recipient.agency_id]
        if recipient.addressed_as.startswith(GROUP_PREFIX):
            expansions.setdefault(recipient.addressed_as, []).append(
                {"agency_id": recipient.agency_id, **entry}
            )
            continue
        events.record(
            session,
            events.DELIVERY_QUEUED,
            at=now,
            actor_id=actor_id,
            agency_id=recipient.agency_id,
            document_id=document.id,
            addressed_as=recipient.addressed_as,
            **entry,
        )
    for addressed_as, deliveries in expansions.items():
        events.record(
            session,
            events.RECIPIENT_RESOLVED,
            at=now,
            actor_id=actor_id,
            agency_id=document.sender_id,
            document_id=document.id,
            addressed_as=addressed_as,
            group=addressed_as[len(GROUP_PREFIX) :],
            deliveries=deliveries,
        )
    jobs.enqueue(session, JOB_DELIVERY, [row["id"] for row in rows], now=now, priority=priority)
    return [Delivery(**row) for row in rows]
