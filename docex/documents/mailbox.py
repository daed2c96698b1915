"""The inbox and the outbox of an agency: the documents the policy's ``reach`` lets a principal
list, newest first, paged by cursor."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from docex.auth.policy import (
    Action,
    Actor,
    reach,
    visibility,
)
from docex.documents.access import (
    parties_of,
    received,
    sent,
)
from docex.documents.models import Delivery, Document
from docex.documents.schemas import (
    FailedRecipient,
    InboxItem,
    InboxPage,
    OutboxItem,
    OutboxPage,
    WaitingRecipient,
)
from docex.documents.views import withheld_subject
from docex.kit.clock import as_utc, rfc3339
from docex.kit.pagination import InvalidCursor, decode_cursor, encode_cursor
from docex.vocabulary.transport import FAILED


def inbox(
    session: Session,
    actor: Actor,
    *,
    status: str | None,
    urgency: str | None,
    limit: int,
    cursor: str | None,
) -> InboxPage:
    query = (
        select(Delivery, Document)
        .join(Document, Document.id == Delivery.document_id)
        .where(received(reach(actor, Action.READ_MAILBOX)))
    )
    if status:
        query = query.where(Delivery.status == status)
    if urgency:
        query = query.where(Document.urgency == urgency)
    if cursor:
        at_raw, delivery_id = decode_cursor(cursor, str, str)
        try:
            at = as_utc(datetime.fromisoformat(at_raw))
        except (ValueError, OverflowError) as exc:
            raise InvalidCursor() from exc
        query = query.where(
            or_(
                Delivery.delivered_at < at,
                and_(Delivery.delivered_at == at, Delivery.id < delivery_id),
            )
        )
    rows = session.execute(
        query.order_by(Delivery.delivered_at.desc(), Delivery.id.desc()).limit(limit + 1)
    ).all()
    items = []
    for delivery, doc in rows[:limit]:
        content = visibility(actor, parties_of(doc, [delivery])).content
        items.append(
            InboxItem(
                document_id=doc.id,
                business_id=doc.business_id,
                sender_id=doc.sender_id,
                subject=doc.subject if content else withheld_subject(doc),
                content_withheld=not content,
                urgency=doc.urgency,
                classification=doc.classification,
                status=delivery.status,
                incoming_number=delivery.incoming_number,
                delivered_at=rfc3339(delivery.delivered_at) if delivery.delivered_at else None,
                overdue=delivery.overdue_at is not None,
                business_state=delivery.business_state,
                superseded_by=delivery.superseded_by,
            )
        )
    next_cursor = None
    if len(rows) > limit and (last_at := rows[limit - 1][0].delivered_at) is not None:
        next_cursor = encode_cursor(last_at.isoformat(), rows[limit - 1][0].id)
    return InboxPage(items=items, next_cursor=next_cursor)


def outbox(session: Session, actor: Actor, *, limit: int, cursor: str | None) -> OutboxPage:
    query = select(Document).where(sent(reach(actor, Action.READ_MAILBOX)))
    if cursor:
        (after,) = decode_cursor(cursor, str)
        query = query.where(Document.id < after)
    docs = list(session.scalars(query.order_by(Document.id.desc()).limit(limit + 1)))
    page = docs[:limit]
    counts: dict[str, tuple[Counter[str], Counter[str], Counter[str]]] = {
        d.id: (Counter(), Counter(), Counter()) for d in page
    }
    overdue: set[str] = set()
    if page:
        overdue = set(
            session.scalars(
                select(Delivery.document_id)
                .where(Delivery.document_id.in_(list(counts)), Delivery.overdue_at.is_not(None))
                .distinct()
            )
        )
        for document_id, transport, status, state, n in session.execute(
            select(
                Delivery.document_id,
                Delivery.transport,
                Delivery.status,
                Delivery.business_state,
                func.count(),
            )
            .where(Delivery.document_id.in_(list(counts)))
            .group_by(
                Delivery.document_id, Delivery.transport, Delivery.status, Delivery.business_state
            )
        ).all():
            counts[document_id][0][transport] += n
            counts[document_id][1][status or "none"] += n
            if state is not None:
                counts[document_id][2][state] += n
    failed = _failed_recipients(session, [d.id for d in page])
    waiting = _waiting_recipients(session, [d.id for d in page])
    items = []
    for d in page:
        content = visibility(actor, parties_of(d, [])).content
        items.append(
            OutboxItem(
                document_id=d.id,
                business_id=d.business_id,
                subject=d.subject if content else withheld_subject(d),
                content_withheld=not content,
                urgency=d.urgency,
                classification=d.classification,
                created_at=rfc3339(d.created_at),
                recipients=sum(counts[d.id][0].values()),
                transport=dict(counts[d.id][0]),
                status=dict(counts[d.id][1]),
                overdue=d.id in overdue,
                business_state=dict(counts[d.id][2]),
                failed=failed.get(d.id, []),
                waiting=waiting.get(d.id, []),
            )
        )
    next_cursor = encode_cursor(page[-1].id) if len(docs) > limit else None
    return OutboxPage(items=items, next_cursor=next_cursor)


def _failed_recipients(
    session: Session, document_ids: list[str]
) -> dict[str, list[FailedRecipient]]:
    """The sender is told whom the node gave up on, and why (an operator may re-queue)."""
    found: dict[str, list[FailedRecipient]] = {}
    if not document_ids:
        return found
    rows = session.scalars(
        select(Delivery)
        .where(Delivery.document_id.in_(document_ids), Delivery.transport == FAILED)
        .order_by(Delivery.document_id, Delivery.recipient_id)
    )
    for d in rows:
        found.setdefault(d.document_id, []).append(
            FailedRecipient(
                agency_id=d.recipient_id,
                reason=d.last_error,
                attempts=d.attempts,
                failed_at=rfc3339(d.updated_at),
            )
        )
    return found


def _waiting_recipients(
    session: Session, document_ids: list[str]
) -> dict[str, list[WaitingRecipient]]:
    """Recipients on other nodes whose transfer waits for a peer: "waiting for node X"."""
    found: dict[str, list[WaitingRecipient]] = {}
    if not document_ids:
        return found
    rows = session.scalars(
        select(Delivery)
        .where(Delivery.document_id.in_(document_ids), Delivery.waiting_for.is_not(None))
        .order_by(Delivery.document_id, Delivery.recipient_id)
    )
    for d in rows:
        if d.waiting_for is not None:
            found.setdefault(d.document_id, []).append(
                WaitingRecipient(
                    agency_id=d.recipient_id, node=d.node_id, waiting_for=d.waiting_for
                )
            )
    return found
