"""Where receipts come from: every business status — 01 on arrival, and each status a recipient
(or, for a recall, the sender) reports — becomes a ``Receipt`` signed by this node.

A receipt is a JWS (see ``signing.jws``) binding the message id, the document id and business
id, the SHA-256 of the main file, the status code, the agency it is from and the one it is to,
and the time; a third party verifies it with the node's published key, without docex.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.audit import events
from docex.auth.policy import WITHHELD, Action, Actor, Visibility, authorize
from docex.db import insert_if_missing
from docex.documents.access import load_visible, parties_of
from docex.documents.models import Delivery, Document
from docex.errors import Conflict, IllegalTransition, Unprocessable
from docex.kit.clock import rfc3339
from docex.kit.ids import uuid7
from docex.routing.models import Receipt, RegistryCounter
from docex.routing.schemas import ReceiptList, ReceiptOut, StatusOut
from docex.routing.webhooks import events as webhooks
from docex.signing.jws import NodeSigner
from docex.vocabulary import statuses
from docex.vocabulary.transport import DELIVERED


def main_sha256(document: Document) -> str:
    return next(f.sha256 for f in document.files if f.role == "main")


def issue_receipt(
    session: Session,
    signer: NodeSigner,
    *,
    document: Document,
    delivery: Delivery,
    code: str,
    from_agency_id: str,
    to_agency_id: str,
    now: datetime,
    principal_id: str | None = None,
    note: str | None = None,
    incoming_number: str | None = None,
) -> Receipt:
    receipt_id = uuid7()
    claims: dict[str, object] = {
        "iss": signer.node_id,
        "jti": receipt_id,
        "iat": int(now.timestamp()),
        "at": rfc3339(now),
        "status": code,
        "message_id": document.message_id,
        "document_id": document.id,
        "business_id": document.business_id,
        "main_sha256": main_sha256(document),
        "from": from_agency_id,
        "to": to_agency_id,
    }
    if note:
        claims["note"] = note
    if incoming_number:
        claims["incoming_number"] = incoming_number
    receipt = Receipt(
        id=receipt_id,
        document_id=document.id,
        delivery_id=delivery.id,
        code=code,
        from_agency_id=from_agency_id,
        to_agency_id=to_agency_id,
        principal_id=principal_id,
        note=note,
        incoming_number=incoming_number,
        created_at=now,
        signed=signer.sign(claims),
    )
    session.add(receipt)
    events.record(
        session,
        events.STATUS_RECORDED,
        at=now,
        actor_id=principal_id,
        agency_id=from_agency_id,
        document_id=document.id,
        receipt_id=receipt_id,
        code=code,
        to=to_agency_id,
    )
    data = webhooks.delivery_data(
        document_id=document.id,
        delivery_id=delivery.id,
        sender_id=document.sender_id,
        recipient_id=delivery.recipient_id,
        receipt_id=receipt_id,
        status=code,
        from_agency_id=from_agency_id,
        to_agency_id=to_agency_id,
    )
    parties = [document.sender_id, delivery.recipient_id]
    webhooks.emit(session, webhooks.DOCUMENT_STATUS_CHANGED, agency_ids=parties, data=data, now=now)
    if code == statuses.RECALL_REQUESTED:
        webhooks.emit(
            session,
            webhooks.DOCUMENT_RECALL_REQUESTED,
            agency_ids=[delivery.recipient_id],
            data=data,
            now=now,
        )
    return receipt


def status_history(session: Session, delivery_id: str) -> list[str]:
    return list(
        session.scalars(
            select(Receipt.code).where(Receipt.delivery_id == delivery_id).order_by(Receipt.id)
        )
    )


def next_incoming_number(session: Session, agency_id: str, year: int) -> str:
    """Decree 30: incoming numbers run from 1 each year, per agency. Called inside the write
    transaction, so on PostgreSQL the row lock and on SQLite the write lock serialise it."""
    # Created if missing without a race: two first receipts of a year at once on PostgreSQL
    # would otherwise both INSERT, and one fail on the primary key (a 500).
    insert_if_missing(
        session,
        RegistryCounter,
        ["agency_id", "book", "year"],
        agency_id=agency_id,
        book="incoming",
        year=year,
        last=0,
    )
    counter = session.scalars(
        select(RegistryCounter)
        .where(
            RegistryCounter.agency_id == agency_id,
            RegistryCounter.book == "incoming",
            RegistryCounter.year == year,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    counter.last += 1
    return str(counter.last)


@dataclass(frozen=True)
class StatusRequest:
    code: str
    note: str | None = None
    incoming_number: str | None = None
    recipients: Sequence[str] | None = None  # for a recall: which recipients (default all)


def record_status(
    session: Session,
    signer: NodeSigner,
    actor: Actor,
    document: Document,
    deliveries: Sequence[Delivery],
    request: StatusRequest,
    *,
    now: datetime,
    local_year: int,
) -> list[Receipt]:
    code = request.code
    if code not in statuses.CLIENT_CODES:
        raise Unprocessable(f"status {code!r} cannot be reported", code="invalid_status_code")
    parties = parties_of(document, deliveries)
    if code == statuses.RECALL_REQUESTED:
        authorize(actor, Action.SENDER_STATUS, parties, status_code=code)
        wanted = set(request.recipients or [d.recipient_id for d in deliveries])
        targets = [d for d in deliveries if d.recipient_id in wanted]
        if len(targets) != len(wanted):
            raise Unprocessable(
                "recall names an agency that is not a recipient", code="unknown_recipient"
            )
    else:
        authorize(actor, Action.RECIPIENT_STATUS, parties, status_code=code)
        if request.recipients:
            raise Unprocessable("only a recall (13) names recipients", code="invalid_status")
        targets = [d for d in deliveries if d.recipient_id == actor.agency_id]
    if code in statuses.NEEDS_REASON and not (request.note and request.note.strip()):
        raise Unprocessable(f"status {code} needs a reason in 'note'", code="reason_required")
    business_type = (document.envelope.get("business") or {}).get("type", "new")
    receipts: list[Receipt] = []
    for delivery in targets:
        # Statuses of one delivery are serial: on PostgreSQL two at once would both read the
        # same history and both pass the transition check (SQLite's writes are serial already).
        session.refresh(delivery, with_for_update=True)
        if delivery.transport != DELIVERED:
            raise Conflict(
                f"the document has not yet arrived at {delivery.recipient_id}",
                code="not_delivered",
            )
        history = status_history(session, delivery.id)
        if code not in statuses.allowed_next(history, business_type=business_type):
            raise IllegalTransition(
                f"status {code} cannot follow {history[-1] if history else 'none'}"
                f" for {delivery.recipient_id}"
            )
        incoming = None
        if code == statuses.ACCEPTED:
            incoming = request.incoming_number or next_incoming_number(
                session, delivery.recipient_id, local_year
            )
            delivery.incoming_number = incoming
        if code == statuses.RECALL_REQUESTED:
            origin, dest = document.sender_id, delivery.recipient_id
        else:
            origin, dest = delivery.recipient_id, document.sender_id
        receipts.append(
            issue_receipt(
                session,
                signer,
                document=document,
                delivery=delivery,
                code=code,
                from_agency_id=origin,
                to_agency_id=dest,
                now=now,
                principal_id=actor.id,
                note=request.note,
                incoming_number=incoming,
            )
        )
        delivery.status = code
        delivery.updated_at = now
    return receipts


def report_status(
    session: Session,
    signer: NodeSigner,
    actor: Actor,
    document_id: str,
    request: StatusRequest,
    *,
    now: datetime,
    local_year: int,
) -> StatusOut:
    """``record_status`` on a document the actor sees; the first receipt, and all of them."""
    document, deliveries, seen = load_visible(session, actor, document_id)
    receipts = record_status(
        session, signer, actor, document, deliveries, request, now=now, local_year=local_year
    )
    outs = [receipt_view(seen, r) for r in receipts]
    return StatusOut(**outs[0].model_dump(), receipts=outs)


def list_receipts(session: Session, actor: Actor, document_id: str) -> ReceiptList:
    """The document's receipts the actor sees (``Visibility.shows_receipt``), oldest first."""
    _, _, seen = load_visible(session, actor, document_id)
    rows = session.scalars(
        select(Receipt).where(Receipt.document_id == document_id).order_by(Receipt.id)
    )
    return ReceiptList(
        items=[
            receipt_view(seen, r)
            for r in rows
            if seen.shows_receipt(r.from_agency_id, r.to_agency_id)
        ]
    )


def receipt_view(seen: Visibility, receipt: Receipt) -> ReceiptOut:
    """A receipt as its reader may see it: the note is content, and so is the JWS that
    carries it."""
    has_note = receipt.note is not None
    return ReceiptOut(
        id=receipt.id,
        code=receipt.code,
        from_agency_id=receipt.from_agency_id,
        to_agency_id=receipt.to_agency_id,
        note=receipt.note if seen.content or not has_note else WITHHELD,
        incoming_number=receipt.incoming_number,
        created_at=rfc3339(receipt.created_at),
        signed=receipt.signed if seen.shows_signed_receipt(has_note=has_note) else None,
        content_withheld=has_note and not seen.content,
    )
