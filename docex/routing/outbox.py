"""The sender's side of a sent document, recipient by recipient: where its bytes stand (queued,
delivered, failed, waiting for a node), what each recipient answered (accepted with its
incoming number, returned with the reason, assigned, processing, completed, a recall's answer),
whether it answered in time (``routing.deadlines``), and what became of the document for it
(recalled, updated, replaced).

The documents are the outbox's (``documents.mailbox.outbox``: the agency's own, newest first,
by its cursor; one of them by id under the same SQL filter), so an uncleared clerk sees its
lines with the subject and the notes withheld (``Visibility.content``). What a person may do on
a line is the policy's answer too: ``resendable`` (``Action.RESEND``) on a failed delivery,
``recallable`` (``Action.SENDER_STATUS`` 13) on the document. The web's outbox renders this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.agencies.models import Agency
from docex.auth.policy import WITHHELD, Action, Actor, allowed, reach, visibility
from docex.documents import mailbox
from docex.documents.access import get_document, parties_of, sent
from docex.documents.models import Delivery, Document
from docex.documents.views import withheld_subject
from docex.errors import DocumentNotFound
from docex.routing.models import Receipt
from docex.vocabulary import statuses
from docex.vocabulary.business import RECALLED
from docex.vocabulary.transport import DELIVERED, FAILED


@dataclass(frozen=True)
class RecipientLine:
    """One recipient of a sent document, as its sender sees it."""

    agency_id: str
    agency_name: str
    addressed_as: str
    transport: str
    """queued | delivered | failed | forwarded (``vocabulary.transport``)."""
    waiting_for: str | None
    """The peer node a transfer to this recipient waits for, while it cannot be reached."""
    reason: str | None
    """Why the delivery failed, or why its last attempt did; None once delivered."""
    attempts: int
    status: str | None
    """The latest business status (01..16), None before the 01."""
    note: str | None
    """The reason given with the latest status (a return 02, a recall 13, a refusal 16), or
    ``[withheld]`` for a reader not cleared for the document."""
    incoming_number: str | None
    delivered_at: datetime | None
    due_at: datetime | None
    overdue: bool
    """Not answered by its due time (``routing.deadlines``); stays true once answered late."""
    business_state: str | None
    superseded_by: str | None
    resendable: bool
    """Failed, and the reader may send it round again (``Action.RESEND``)."""
    recallable: bool
    """The reader may ask this recipient to recall the document: 13 may follow its statuses
    (``vocabulary.statuses``; not after a return, nor once recalled)."""


@dataclass(frozen=True)
class SentDocument:
    id: str
    business_id: str
    subject: str
    content_withheld: bool
    number: str | None
    notation: str | None
    urgency: str
    classification: str
    business_type: str
    refers_to: str | None
    created_at: datetime
    recipients: list[RecipientLine]
    recallable: bool
    """The reader may ask its recipients to recall it (13)."""

    def count(self, *, transport: str | None = None, status: str | None = None) -> int:
        return sum(
            1
            for r in self.recipients
            if (transport is None or r.transport == transport)
            and (status is None or r.status == status)
        )


@dataclass(frozen=True)
class SentPage:
    items: list[SentDocument]
    next_cursor: str | None


def sent_page(session: Session, actor: Actor, *, limit: int, cursor: str | None) -> SentPage:
    """A page of the actor's agency's outbox, newest first, each with its recipient lines."""
    page = mailbox.outbox(session, actor, limit=limit, cursor=cursor)
    ids = [item.document_id for item in page.items]
    documents = {d.id: d for d in session.scalars(select(Document).where(Document.id.in_(ids)))}
    return SentPage(
        items=_sent(session, actor, [documents[i] for i in ids]), next_cursor=page.next_cursor
    )


def sent_document(session: Session, actor: Actor, document_id: str) -> SentDocument:
    """One document of the actor's agency's outbox; DocumentNotFound for any other (one it
    received included: its sender's view is not the recipient's)."""
    document = get_document(session, document_id)
    mine = session.scalar(
        select(Document.id).where(
            Document.id == document.id, sent(reach(actor, Action.READ_MAILBOX))
        )
    )
    if mine is None:
        raise DocumentNotFound()
    return _sent(session, actor, [document])[0]


def _sent(session: Session, actor: Actor, documents: Sequence[Document]) -> list[SentDocument]:
    if not documents:
        return []
    ids = [d.id for d in documents]
    by_document: dict[str, list[Delivery]] = {i: [] for i in ids}
    for delivery in session.scalars(
        select(Delivery)
        .where(Delivery.document_id.in_(ids))
        .order_by(Delivery.document_id, Delivery.recipient_id)
    ):
        by_document[delivery.document_id].append(delivery)
    delivery_ids = [d.id for rows in by_document.values() for d in rows]
    latest: dict[str, Receipt] = {}
    history: dict[str, list[str]] = {i: [] for i in delivery_ids}
    if delivery_ids:
        for receipt in session.scalars(
            select(Receipt)
            .where(Receipt.delivery_id.in_(delivery_ids))
            .order_by(Receipt.created_at, Receipt.id)
        ):
            latest[receipt.delivery_id] = receipt
            history[receipt.delivery_id].append(receipt.code)
    agencies = {d.recipient_id for rows in by_document.values() for d in rows}
    names = dict(
        session.execute(select(Agency.id, Agency.name).where(Agency.id.in_(agencies))).all()
    )
    out = []
    for document in documents:
        deliveries = by_document[document.id]
        parties = parties_of(document, deliveries)
        seen = visibility(actor, parties)
        content = seen.content
        resend = allowed(actor, Action.RESEND, parties)
        # A recall is reported on a document the reader sees (``receipts.report_status``).
        recall = seen.document and allowed(
            actor, Action.SENDER_STATUS, parties, status_code=statuses.RECALL_REQUESTED
        )
        code = document.envelope.get("code") or {}
        business = document.envelope.get("business") or {}
        business_type = business.get("type", "new")
        lines = []
        for d in deliveries:
            last = latest.get(d.id)
            note = last.note if last is not None else None
            lines.append(
                RecipientLine(
                    agency_id=d.recipient_id,
                    agency_name=names.get(d.recipient_id, d.recipient_id),
                    addressed_as=d.addressed_as,
                    transport=d.transport,
                    waiting_for=d.waiting_for,
                    reason=d.last_error if d.transport != DELIVERED else None,
                    attempts=d.attempts,
                    status=d.status,
                    note=note if content or note is None else WITHHELD,
                    incoming_number=d.incoming_number,
                    delivered_at=d.delivered_at,
                    due_at=d.due_at,
                    overdue=d.overdue_at is not None,
                    business_state=d.business_state,
                    superseded_by=d.superseded_by,
                    resendable=resend and d.transport == FAILED,
                    recallable=recall
                    and d.transport == DELIVERED
                    and d.business_state != RECALLED
                    and statuses.RECALL_REQUESTED
                    in statuses.allowed_next(history[d.id], business_type=business_type),
                )
            )
        out.append(
            SentDocument(
                id=document.id,
                business_id=document.business_id,
                subject=document.subject if content else withheld_subject(document),
                content_withheld=not content,
                number=code.get("number"),
                notation=code.get("notation"),
                urgency=document.urgency,
                classification=document.classification,
                business_type=business_type,
                refers_to=business.get("refers_to"),
                created_at=document.created_at,
                recipients=lines,
                recallable=recall,
            )
        )
    return out
