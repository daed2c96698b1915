"""Where receipts come from: every business status — 01 on arrival, and each status a recipient
(or, for a recall, the sender) reports — becomes a ``Receipt`` signed by this node.

A receipt is a JWS (see ``signing.jws``) binding the message id, the document id and business
id, the SHA-256 of the main file, the status code, the agency it is from and the one it is to,
and the time; a third party verifies it with the node's published key, without docex.

A status post is idempotent (``record_status``), and a recipient's acceptance of a recall, an
update or a replacement changes what the earlier document is for it (``take_effect``, in the
receipt's transaction, with its audit event).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.agencies.models import Agency
from docex.audit import events
from docex.auth.policy import WITHHELD, Action, Actor, Visibility, allowed, authorize
from docex.config import DeadlineSettings
from docex.db import insert_if_missing
from docex.documents.access import load_visible, parties_of
from docex.documents.models import Delivery, Document
from docex.errors import Conflict, IdempotencyKeyConflict, IllegalTransition, Unprocessable
from docex.federation.statuses import Status, queue_statuses
from docex.kit.clock import as_utc, rfc3339
from docex.kit.ids import uuid7
from docex.routing.deadlines import due_time
from docex.routing.models import Receipt, RegistryCounter
from docex.routing.schemas import ReceiptList, ReceiptOut, StatusOut
from docex.routing.webhooks import events as webhooks
from docex.signing.jws import NodeSigner, canonical_json
from docex.vocabulary import business, statuses
from docex.vocabulary.business import RECALLED
from docex.vocabulary.transport import DELIVERED


def main_sha256(document: Document) -> str:
    return next(f.sha256 for f in document.files if f.role == "main")


def sign_receipt(
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
    idempotency_key: str | None = None,
    request_sha256: str | None = None,
) -> Receipt:
    """The receipt row, its claims signed by the node (not yet added to a session)."""
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
    return Receipt(
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
        idempotency_key=idempotency_key,
        request_sha256=request_sha256,
    )


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
    idempotency_key: str | None = None,
    request_sha256: str | None = None,
) -> Receipt:
    """Records a status as a signed receipt, with its audit event and webhooks."""
    receipt = sign_receipt(
        signer,
        document=document,
        delivery=delivery,
        code=code,
        from_agency_id=from_agency_id,
        to_agency_id=to_agency_id,
        now=now,
        principal_id=principal_id,
        note=note,
        incoming_number=incoming_number,
        idempotency_key=idempotency_key,
        request_sha256=request_sha256,
    )
    session.add(receipt)
    events.record(session, events.STATUS_RECORDED, at=now, **_recorded(receipt))
    _tell(session, document, delivery, receipt, now=now)
    _travel(session, signer.node_id, [(delivery, receipt)], now=now)
    return receipt


def issue_arrivals(
    session: Session,
    signer: NodeSigner,
    delivered: Sequence[tuple[Document, Delivery]],
    *,
    now: datetime,
) -> list[Receipt]:
    """``issue_receipt`` of status 01 for many deliveries at once (a broadcast): the same
    receipts, events and webhooks, written in a few statements."""
    receipts = [
        sign_receipt(
            signer,
            document=document,
            delivery=delivery,
            code=statuses.ARRIVED,
            from_agency_id=delivery.recipient_id,
            to_agency_id=document.sender_id,
            now=now,
        )
        for document, delivery in delivered
    ]
    session.add_all(receipts)
    events.record_many(session, events.STATUS_RECORDED, [_recorded(r) for r in receipts], at=now)
    for (document, delivery), receipt in zip(delivered, receipts, strict=True):
        _tell(session, document, delivery, receipt, now=now)
    _travel(
        session,
        signer.node_id,
        [(delivery, r) for (_, delivery), r in zip(delivered, receipts, strict=True)],
        now=now,
    )
    return receipts


def _travel(
    session: Session, here: str, issued: Sequence[tuple[Delivery, Receipt]], *, now: datetime
) -> None:
    """Receipts addressed to an agency hosted on another node go there, signed as they are
    (``docex.federation.statuses``): one transfer per next hop for the whole batch."""
    targets = {r.to_agency_id for _, r in issued}
    homes = dict(
        session.execute(select(Agency.id, Agency.node_id).where(Agency.id.in_(targets))).all()
    )
    away = [(d, r) for d, r in issued if homes.get(r.to_agency_id, here) != here]
    if not away:
        return
    queue_statuses(
        session,
        here=here,
        outgoing=[
            Status(
                receipt=r.signed,
                issuer=here,
                document_id=r.document_id,
                recipient_id=d.recipient_id,
                to_agency_id=r.to_agency_id,
            )
            for d, r in away
        ],
        now=now,
    )


def _recorded(receipt: Receipt) -> dict[str, Any]:
    """What the audit event of a receipt says."""
    return {
        "actor_id": receipt.principal_id,
        "agency_id": receipt.from_agency_id,
        "document_id": receipt.document_id,
        "receipt_id": receipt.id,
        "code": receipt.code,
        "to": receipt.to_agency_id,
    }


def _tell(
    session: Session, document: Document, delivery: Delivery, receipt: Receipt, *, now: datetime
) -> None:
    """The parties' webhooks: a status changed (and, for 13, a recall is asked)."""
    data = webhooks.delivery_data(
        document_id=document.id,
        delivery_id=delivery.id,
        sender_id=document.sender_id,
        recipient_id=delivery.recipient_id,
        receipt_id=receipt.id,
        status=receipt.code,
        from_agency_id=receipt.from_agency_id,
        to_agency_id=receipt.to_agency_id,
    )
    parties = [document.sender_id, delivery.recipient_id]
    webhooks.emit(session, webhooks.DOCUMENT_STATUS_CHANGED, agency_ids=parties, data=data, now=now)
    if receipt.code == statuses.RECALL_REQUESTED:
        webhooks.emit(
            session,
            webhooks.DOCUMENT_RECALL_REQUESTED,
            agency_ids=[delivery.recipient_id],
            data=data,
            now=now,
        )


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


def peek_incoming_number(session: Session, agency_id: str, year: int) -> str:
    """The number ``next_incoming_number`` would give now, taking nothing: a suggestion for
    the clerk's form. The number given is the one taken when the acceptance commits (someone
    else may accept a document in between)."""
    last = session.scalar(
        select(RegistryCounter.last).where(
            RegistryCounter.agency_id == agency_id,
            RegistryCounter.book == "incoming",
            RegistryCounter.year == year,
        )
    )
    return str((last or 0) + 1)


@dataclass(frozen=True)
class StatusRequest:
    code: str
    note: str | None = None
    incoming_number: str | None = None
    recipients: Sequence[str] | None = None  # for a recall: which recipients (default all)
    idempotency_key: str | None = None  # the client's Idempotency-Key header, if any

    def sha256(self) -> str:
        """What an Idempotency-Key is bound to: the body, not the key itself."""
        body = {
            "code": self.code,
            "note": self.note,
            "incoming_number": self.incoming_number,
            "recipients": sorted(self.recipients) if self.recipients is not None else None,
        }
        return hashlib.sha256(canonical_json(body)).hexdigest()


@dataclass(frozen=True)
class Recorded:
    receipts: list[Receipt]
    created: bool
    """False when every receipt is one recorded before: the request was a retry (a replay)."""


def _keyed(session: Session, delivery: Delivery, from_agency_id: str, key: str) -> Receipt | None:
    return session.scalar(
        select(Receipt).where(
            Receipt.delivery_id == delivery.id,
            Receipt.from_agency_id == from_agency_id,
            Receipt.idempotency_key == key,
        )
    )


def _retried(
    session: Session, delivery: Delivery, origin: str, request: StatusRequest, *, legal: bool
) -> Receipt | None:
    """The receipt ``request`` repeats, if it is a retry: the same code, note and (when the
    request gives one) incoming number from the same agency as the delivery's latest receipt
    of that code. A status the rules would accept anew counts as a retry only when that
    receipt is the delivery's very latest (a 16 posted twice in a row is one 16)."""
    query = select(Receipt).where(Receipt.delivery_id == delivery.id)
    if not legal:
        query = query.where(Receipt.code == request.code, Receipt.from_agency_id == origin)
    latest = session.scalar(query.order_by(Receipt.id.desc()).limit(1))
    if latest is None or (latest.code, latest.from_agency_id) != (request.code, origin):
        return None
    if latest.note != request.note:
        return None
    if request.incoming_number is not None and latest.incoming_number != request.incoming_number:
        return None
    return latest


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
) -> Recorded:
    """Record ``request`` on each delivery it targets, or answer a retry with what was recorded.

    Idempotent in two ways. With an ``Idempotency-Key``, a receipt made under the same key by
    the same agency on a delivery is the answer when the body is the same, and
    ``idempotency_key_conflict`` when it is not. Without one, a repeat (the same code, note
    and incoming number from the same agency as that code's latest receipt, ``_retried``) that
    the transition rules would refuse is answered with that receipt, not
    ``illegal_transition``: a post retried after a lost answer gets its original receipt. A
    status that may legally follow is new (13 again after a refused recall), unless it repeats
    the delivery's very latest receipt.
    """
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
    request_sha256 = request.sha256() if request.idempotency_key is not None else None
    receipts: list[Receipt] = []
    created = False
    for delivery in targets:
        # Statuses of one delivery are serial: on PostgreSQL two at once would both read the
        # same history and both pass the transition check (SQLite's writes are serial already).
        # The lock also makes the replay checks below see a concurrent twin's receipt.
        session.refresh(delivery, with_for_update=True)
        if delivery.transport != DELIVERED:
            raise Conflict(
                f"the document has not yet arrived at {delivery.recipient_id}",
                code="not_delivered",
            )
        if code == statuses.RECALL_REQUESTED:
            origin, dest = document.sender_id, delivery.recipient_id
        else:
            origin, dest = delivery.recipient_id, document.sender_id
        if request.idempotency_key is not None and (
            keyed := _keyed(session, delivery, origin, request.idempotency_key)
        ):
            if keyed.request_sha256 != request_sha256:
                raise IdempotencyKeyConflict(
                    "this Idempotency-Key was used on this document with another request"
                )
            receipts.append(keyed)
            continue
        history = status_history(session, delivery.id)
        legal = code in statuses.allowed_next(history, business_type=business_type)
        if earlier := _retried(session, delivery, origin, request, legal=legal):
            receipts.append(earlier)
            continue
        if not legal:
            raise IllegalTransition(
                f"status {code} cannot follow {history[-1] if history else 'none'}"
                f" for {delivery.recipient_id}"
            )
        if delivery.business_state == RECALLED:
            raise IllegalTransition(
                f"the document was recalled for {delivery.recipient_id}: no status follows"
            )
        incoming = None
        if code == statuses.ACCEPTED:
            incoming = request.incoming_number or next_incoming_number(
                session, delivery.recipient_id, local_year
            )
            delivery.incoming_number = incoming
        receipt = issue_receipt(
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
            idempotency_key=request.idempotency_key,
            request_sha256=request_sha256,
        )
        receipts.append(receipt)
        created = True
        delivery.status = code
        delivery.updated_at = now
        take_effect(
            session,
            document,
            delivery,
            receipt,
            previous=history[-1] if history else None,
            business_type=business_type,
            now=now,
        )
    return Recorded(receipts, created)


_STATE_EVENTS = {
    business.RECALLED: events.DELIVERY_RECALLED,
    business.UPDATED: events.DELIVERY_UPDATED,
    business.REPLACED: events.DELIVERY_REPLACED,
}


def take_effect(
    session: Session,
    document: Document,
    delivery: Delivery,
    receipt: Receipt,
    *,
    previous: str | None,
    business_type: str,
    now: datetime,
) -> Delivery | None:
    """What ``receipt`` (just recorded on ``delivery`` of ``document``) makes of a delivery's
    business state (``vocabulary.business``), in the receipt's transaction, with its audit
    event; the delivery it changed, or None.

    - 15 answering a recall (13) of ``document`` itself: ``document`` is ``recalled`` for that
      recipient (``superseded_by`` null).
    - Otherwise, on a revoke/update/replace ``document``, an accepting code (15; or 03 for an
      update or replacement): the document it ``refers_to``, if the same sender sent it to the
      same recipient, becomes ``recalled``/``updated``/``replaced`` for that recipient, with
      ``superseded_by`` = ``document``.
    """
    target: Delivery | None
    if receipt.code == statuses.RECALL_ACCEPTED and previous == statuses.RECALL_REQUESTED:
        target, state, by = delivery, business.RECALLED, None
    else:
        effect = business.effect_of(business_type, receipt.code)
        refers_to = (document.envelope.get("business") or {}).get("refers_to")
        if effect is None or not refers_to:
            return None
        target = session.scalar(
            select(Delivery)
            .join(Document, Document.id == Delivery.document_id)
            .where(
                Delivery.document_id == refers_to,
                Delivery.recipient_id == delivery.recipient_id,
                Document.sender_id == document.sender_id,
            )
            .with_for_update()
        )
        if target is None:
            return None
        state, by = effect, document.id
    new_state = business.next_state(target.business_state, state)
    if new_state == target.business_state and (new_state == business.RECALLED or by is None):
        return None  # already recalled: final
    target.business_state = new_state
    target.superseded_by = by
    target.updated_at = now
    events.record(
        session,
        _STATE_EVENTS[new_state],
        at=now,
        actor_id=receipt.principal_id,
        agency_id=target.recipient_id,
        document_id=target.document_id,
        delivery_id=target.id,
        receipt_id=receipt.id,
        superseded_by=by,
        to=document.sender_id,
    )
    return target


def report_status(
    session: Session,
    signer: NodeSigner,
    actor: Actor,
    document_id: str,
    request: StatusRequest,
    *,
    now: datetime,
    local_year: int,
) -> tuple[StatusOut, bool]:
    """``record_status`` on a document the actor sees: the first receipt, all of them, and
    whether any is new (False: a retry, answered with the original receipts)."""
    document, deliveries, seen = load_visible(session, actor, document_id)
    recorded = record_status(
        session, signer, actor, document, deliveries, request, now=now, local_year=local_year
    )
    outs = [receipt_view(seen, r) for r in recorded.receipts]
    return StatusOut(**outs[0].model_dump(), receipts=outs), recorded.created


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


class RemoteReceipts:
    """Records a status that another node issued and signed (it arrived by a ``status``
    transfer, ``docex.federation.statuses``) as a local one is recorded: the receipt in the
    document's list (its id and JWS as issued), the delivery's status, and for 01 its transport
    and due time, the business state a 15 or an accepting code changes (``take_effect``), the
    audit events and webhooks. The same receipt again is recorded once."""

    def __init__(self, deadlines: DeadlineSettings) -> None:
        self.deadlines = deadlines

    def __call__(
        self,
        session: Session,
        document: Document,
        delivery: Delivery,
        claims: Mapping[str, Any],
        signed: str,
        *,
        now: datetime,
    ) -> bool:
        receipt_id = str(claims["jti"])
        if session.get(Receipt, receipt_id) is not None:
            return False
        session.refresh(delivery, with_for_update=True)
        code = str(claims["status"])
        at = as_utc(datetime.fromisoformat(str(claims["at"])))
        history = session.execute(
            select(Receipt.code, Receipt.created_at)
            .where(Receipt.delivery_id == delivery.id)
            .order_by(Receipt.created_at, Receipt.id)
        ).all()
        earlier = [c for c, created in history if as_utc(created) <= at]
        latest = not history or all(as_utc(created) <= at for _, created in history)
        receipt = Receipt(
            id=receipt_id,
            document_id=document.id,
            delivery_id=delivery.id,
            code=code,
            from_agency_id=str(claims["from"]),
            to_agency_id=str(claims["to"]),
            principal_id=None,
            note=claims.get("note"),
            incoming_number=claims.get("incoming_number"),
            created_at=at,
            signed=signed,
        )
        session.add(receipt)
        if code == statuses.ARRIVED and delivery.transport != DELIVERED:
            delivery.transport = DELIVERED
            delivery.delivered_at = at
            delivery.due_at = due_time(at, document.urgency, self.deadlines)
            delivery.waiting_for = None
            delivery.last_error = None
            events.record(
                session,
                events.DELIVERY_DELIVERED,
                at=now,
                agency_id=delivery.recipient_id,
                document_id=document.id,
                delivery_id=delivery.id,
                node_id=str(claims["iss"]),
                attempt=delivery.attempts,
            )
        if latest:
            delivery.status = code
        if code == statuses.ACCEPTED and receipt.incoming_number:
            delivery.incoming_number = receipt.incoming_number
        delivery.updated_at = now
        events.record(
            session,
            events.STATUS_RECORDED,
            at=now,
            node_id=str(claims["iss"]),
            **_recorded(receipt),
        )
        _tell(session, document, delivery, receipt, now=now)
        take_effect(
            session,
            document,
            delivery,
            receipt,
            previous=earlier[-1] if earlier else None,
            business_type=(document.envelope.get("business") or {}).get("type", "new"),
            now=now,
        )
        return True


@dataclass(frozen=True)
class Answers:
    """What a recipient's person may answer on a document now (the inbox's actions): the codes
    both the policy (``RECIPIENT_STATUS``, by role) and the transition rules
    (``statuses.allowed_next``) allow, for their own agency's delivery; none once it was
    recalled for them, none for anyone who is not its recipient."""

    document_id: str
    status: str | None
    incoming_number: str | None
    codes: frozenset[str]
    business_type: str
    refers_to: str | None
    recall_asked: bool
    """The sender asked to recall it (13) and waits for the answer (15/16)."""
    suggested_number: str | None
    """The incoming number an acceptance (03) would take now, when 03 is among ``codes``."""


def answers(session: Session, actor: Actor, document_id: str, *, local_year: int) -> Answers:
    """The actions open to ``actor`` on ``document_id``; DocumentNotFound if they may not see it."""
    document, deliveries, _ = load_visible(session, actor, document_id)
    parties = parties_of(document, deliveries)
    business_info = document.envelope.get("business") or {}
    business_type = business_info.get("type", "new")
    mine = next((d for d in deliveries if d.recipient_id == actor.agency_id), None)
    codes: frozenset[str] = frozenset()
    history: list[str] = []
    if mine is not None and mine.transport == DELIVERED and mine.business_state != RECALLED:
        history = status_history(session, mine.id)
        codes = frozenset(
            code
            for code in statuses.allowed_next(history, business_type=business_type)
            if code in statuses.CLIENT_CODES
            and allowed(actor, Action.RECIPIENT_STATUS, parties, status_code=code)
        )
    suggested = None
    if statuses.ACCEPTED in codes and actor.agency_id is not None:
        suggested = peek_incoming_number(session, actor.agency_id, local_year)
    return Answers(
        document_id=document.id,
        status=mine.status if mine else None,
        incoming_number=mine.incoming_number if mine else None,
        codes=codes,
        business_type=business_type,
        refers_to=business_info.get("refers_to"),
        recall_asked=bool(history) and history[-1] == statuses.RECALL_REQUESTED,
        suggested_number=suggested,
    )
