"""The webhook events, and ``emit``: called next to the audit event of what happened, in the same
transaction, so an event is queued exactly when its cause is committed.

Every event is ``{"type", "timestamp", "data"}``; ``data`` holds ids, agency codes and status
codes only, never a subject, a note or a file name (those are content, for the cleared, and the
receiver reads them through the API as whoever it is): a webhook says "go and look".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from docex.kit.clock import rfc3339
from docex.kit.ids import uuid7
from docex.queue import jobs
from docex.routing.webhooks.models import WebhookEndpoint, WebhookMessage
from docex.vocabulary.transport import JOB_WEBHOOK

# A document reached an agency (status 01): for the recipient.
DOCUMENT_DELIVERED: Final = "document.delivered"
# A receipt was recorded (any status, 01 included): for the sender and the recipient.
DOCUMENT_STATUS_CHANGED: Final = "document.status_changed"
# A delivery was given up on: for the sender.
DELIVERY_FAILED: Final = "delivery.failed"
# The sender recalls the document (status 13): for the recipient.
DOCUMENT_RECALL_REQUESTED: Final = "document.recall_requested"
# A delivery was not answered (02 or 03) in time: for the recipient and the sender.
DELIVERY_OVERDUE: Final = "delivery.overdue"

EVENT_TYPES: Final = (
    DOCUMENT_DELIVERED,
    DOCUMENT_STATUS_CHANGED,
    DELIVERY_FAILED,
    DOCUMENT_RECALL_REQUESTED,
    DELIVERY_OVERDUE,
)

QUEUED, DELIVERED, FAILED, DROPPED = "queued", "delivered", "failed", "dropped"


def emit(
    session: Session,
    event_type: str,
    *,
    agency_ids: Iterable[str],
    data: Mapping[str, object],
    now: datetime,
) -> list[str]:
    """Queue ``event_type`` for every enabled endpoint of ``agency_ids`` subscribed to it: one
    message each (its own ``webhook-id``) and its job, in bulk, in the caller's transaction.
    Returns the message ids."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"{event_type!r} is not a webhook event")
    by_agency = _endpoints(session)
    targets = [
        endpoint_id
        for agency_id in sorted(set(agency_ids))
        for endpoint_id, subscribed in by_agency.get(agency_id, ())
        if subscribed is None or event_type in subscribed
    ]
    if not targets:
        return []
    body = json.dumps(
        {"type": event_type, "timestamp": rfc3339(now), "data": dict(data)},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    ids = [uuid7() for _ in targets]
    rows = [
        {
            "id": message_id,
            "endpoint_id": endpoint_id,
            "event_type": event_type,
            "payload": body,
            "created_at": now,
            "state": QUEUED,
            "attempts": 0,
        }
        for message_id, endpoint_id in zip(ids, targets, strict=True)
    ]
    session.execute(insert(WebhookMessage), rows)
    jobs.enqueue(session, JOB_WEBHOOK, ids, now=now)
    return ids


_CACHE = "docex.routing.webhooks.endpoints"
Subscriptions = dict[str, list[tuple[str, list[str] | None]]]


def _endpoints(session: Session) -> Subscriptions:
    """The enabled endpoints by agency, read once per transaction: a broadcast delivering to
    thousands of agencies in one transaction emits for each without a query each. (The table
    holds one small row per registered endpoint.)"""
    transaction = session.get_transaction()
    cached = session.info.get(_CACHE)
    if cached is not None and cached[0] is transaction:
        found: Subscriptions = cached[1]
        return found
    with session.no_autoflush:  # the endpoints do not depend on the caller's pending changes
        rows = session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.agency_id, WebhookEndpoint.events).where(
                WebhookEndpoint.enabled.is_(True), WebhookEndpoint.deleted_at.is_(None)
            )
        ).all()
    found = {}
    for endpoint_id, agency_id, subscribed in rows:
        found.setdefault(agency_id, []).append((endpoint_id, subscribed))
    session.info[_CACHE] = (transaction, found)
    return found


def delivery_data(
    *, document_id: str, delivery_id: str, sender_id: str, recipient_id: str, **more: object
) -> dict[str, object]:
    """The ``data`` every delivery event carries, and what it adds (a status code, a reason)."""
    return {
        "document_id": document_id,
        "delivery_id": delivery_id,
        "sender_id": sender_id,
        "recipient_id": recipient_id,
        **more,
    }


def emit_overdue(
    session: Session,
    *,
    document_id: str,
    delivery_id: str,
    sender_id: str,
    recipient_id: str,
    deadline: datetime,
    now: datetime,
) -> list[str]:
    """``delivery.overdue``, for the overdue sweep to call next to its audit event."""
    return emit(
        session,
        DELIVERY_OVERDUE,
        agency_ids=[recipient_id, sender_id],
        data=delivery_data(
            document_id=document_id,
            delivery_id=delivery_id,
            sender_id=sender_id,
            recipient_id=recipient_id,
            deadline=rfc3339(deadline),
        ),
        now=now,
    )
