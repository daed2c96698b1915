"""Deadlines: the legal receipt rule, and the sweep that marks the deliveries that missed it.

The rule (Decree 30/2020, DOMAIN.md): a document that reaches a recipient's inbox (status 01) is
answered — returned (02) or received (03), or with any later status of the recipient's, which
implies it was received — by the end of the recipient's working day. The day is read in the
node's time zone (``Asia/Ho_Chi_Minh``) and ends at 17:00 by default; a document arriving at or
after the day's end, on a weekend day or on a holiday is due at the end of the next working day.
Flash (hỏa tốc) and very urgent (thượng khẩn) documents are due 1 and 2 hours after delivery,
whatever the day. All of it is ``DeadlineSettings``.

Where the state lives:

- ``due_time`` is pure: delivery time, urgency and settings in, the due instant (UTC) out.
- ``deliveries.deliver_locally`` stores it as ``Delivery.due_at`` with the 01.
- ``mark_overdue`` finds deliveries past ``due_at`` that were not answered by then, sets
  ``overdue_at`` and records ``routing:delivery:overdue`` in the same transaction. Its UPDATE
  is conditional on ``overdue_at IS NULL``, so two sweeps at once (two processes, two nodes on
  one database) mark each delivery once and write one event for it. An answer that comes late
  does not clear ``overdue_at``: the delivery was overdue, and stays on record as such.
- ``OverdueSweep`` runs ``mark_overdue`` periodically beside the dispatcher.
- ``overdue_page`` is ``GET /api/v1/overdue``: the agency's own, node-wide for admins,
  auditors and supervisors (the drill-down of the dashboard), within the one access policy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from docex.audit import events
from docex.auth.policy import WATCHERS, Action, Actor, reach, visibility
from docex.config import DeadlineSettings
from docex.db import Database
from docex.documents.access import parties_of, readable, received, sent
from docex.documents.models import Delivery, Document
from docex.documents.views import withheld_subject
from docex.kit.clock import Clock, as_utc, rfc3339
from docex.kit.loops import Loop
from docex.kit.pagination import InvalidCursor, decode_cursor, encode_cursor
from docex.routing.models import Receipt
from docex.routing.schemas import OverdueItem, OverduePage
from docex.routing.webhooks import events as webhooks
from docex.vocabulary import statuses
from docex.vocabulary.transport import DELIVERED

log = logging.getLogger(__name__)

# What answers a delivery: every status the recipient reports (02, 03, and the later ones that
# imply 03). The sender's recall request (13) is not the recipient's answer.
ANSWERS = frozenset(statuses.CLIENT_CODES - {statuses.RECALL_REQUESTED})
SWEEP_BATCH = 500


def due_time(delivered_at: datetime, urgency: str, rule: DeadlineSettings) -> datetime:
    """When a delivery made at ``delivered_at`` must be answered (UTC)."""
    delivered_at = as_utc(delivered_at)
    if urgency == "flash":
        return delivered_at + timedelta(hours=rule.flash_hours)
    if urgency == "very_urgent":
        return delivered_at + timedelta(hours=rule.very_urgent_hours)
    zone = rule.zone
    local = delivered_at.astimezone(zone)
    day = local.date()
    if not _working(day, rule) or local.time() >= rule.day_end:
        day = _next_working_day(day, rule)
    return datetime.combine(day, rule.day_end, tzinfo=zone).astimezone(UTC)


def _working(day: date, rule: DeadlineSettings) -> bool:
    return day.isoweekday() not in rule.weekend and day not in rule.holidays


def _next_working_day(day: date, rule: DeadlineSettings) -> date:
    # Ends: the weekend is never the whole week and the holidays are finitely many.
    day += timedelta(days=1)
    while not _working(day, rule):
        day += timedelta(days=1)
    return day


def _answered(*, in_time: bool = False) -> ColumnElement[bool]:
    """The delivery (of the enclosing query) has an answer; ``in_time``: by its due time."""
    query = select(Receipt.id).where(Receipt.delivery_id == Delivery.id, Receipt.code.in_(ANSWERS))
    if in_time:
        query = query.where(Receipt.created_at <= Delivery.due_at)
    return query.exists()


@dataclass(frozen=True)
class Overdue:
    """A delivery ``mark_overdue`` has just marked."""

    delivery_id: str
    document_id: str
    recipient_id: str
    sender_id: str
    due_at: datetime


def mark_overdue(session: Session, now: datetime, *, limit: int = SWEEP_BATCH) -> list[Overdue]:
    """Mark up to ``limit`` deliveries due before ``now`` and not answered by their due time:
    ``overdue_at = now`` and one ``routing:delivery:overdue`` event each, in the caller's
    transaction. Returns those this call marked (none that another sweep marked first)."""
    candidates = list(
        session.scalars(
            select(Delivery.id)
            .where(
                Delivery.overdue_at.is_(None),
                Delivery.due_at < now,
                Delivery.transport == DELIVERED,
                ~_answered(in_time=True),
            )
            .order_by(Delivery.due_at, Delivery.id)
            .limit(limit)
        )
    )
    if not candidates:
        return []
    # Conditional on overdue_at IS NULL: on PostgreSQL a concurrent sweep that marked a row
    # first makes this UPDATE skip it once its transaction commits (the WHERE is re-checked
    # on the locked row); on SQLite write transactions are serial.
    marked = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(candidates), Delivery.overdue_at.is_(None))
        .values(overdue_at=now)
        .returning(Delivery.id, Delivery.document_id, Delivery.recipient_id, Delivery.due_at)
        .execution_options(synchronize_session=False)
    ).all()
    senders = dict(
        session.execute(
            select(Document.id, Document.sender_id).where(
                Document.id.in_(list({row.document_id for row in marked}))
            )
        ).all()
    )
    found: list[Overdue] = []
    for delivery_id, document_id, recipient_id, due_at in sorted(marked):
        overdue = Overdue(
            delivery_id=delivery_id,
            document_id=document_id,
            recipient_id=recipient_id,
            sender_id=senders[document_id],
            due_at=as_utc(due_at or now),  # not NULL: the sweep selected on it
        )
        events.record(
            session,
            events.DELIVERY_OVERDUE,
            at=now,
            agency_id=recipient_id,
            document_id=document_id,
            delivery_id=delivery_id,
            due_at=rfc3339(overdue.due_at),
            to=overdue.sender_id,
        )
        webhooks.emit_overdue(
            session,
            document_id=document_id,
            delivery_id=delivery_id,
            sender_id=overdue.sender_id,
            recipient_id=recipient_id,
            deadline=overdue.due_at,
            now=now,
        )
        found.append(overdue)
    return found


class OverdueSweep:
    """``mark_overdue`` every ``sweep_interval_seconds``, on a thread of its own
    (``docex serve``, ``docex worker``); as many processes as like may run it at once."""

    def __init__(self, db: Database, clock: Clock, rule: DeadlineSettings) -> None:
        self.db = db
        self.clock = clock
        # A failed pass is retried safely: it changed nothing (one transaction).
        self._loop = Loop("docex-overdue", self._pass, interval=rule.sweep_interval_seconds)

    def run_once(self, now: datetime | None = None, *, limit: int = SWEEP_BATCH) -> int:
        """One batch; how many deliveries it marked."""
        with self.db.write() as session:
            marked = mark_overdue(session, now or self.clock.now(), limit=limit)
        if marked:
            log.info("%d deliveries overdue", len(marked))
        return len(marked)

    def _pass(self) -> bool:
        return self.run_once() == SWEEP_BATCH

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._loop.stop(timeout)


# -- GET /api/v1/overdue -------------------------------------------------------------------------


def overdue_page(
    session: Session,
    actor: Actor,
    *,
    answered: bool | None,
    limit: int,
    cursor: str | None,
    recipient_id: str | None = None,
) -> OverduePage:
    """Overdue deliveries the actor's agency is a party to (as recipient or sender), or every
    one for those who watch the node (admins, auditors, supervisors); most recently due first;
    only those to ``recipient_id`` when given (the dashboard's drill-down). The subject only
    where the policy lets the reader see content."""
    scope = reach(actor, Action.READ_DEADLINES)
    within = readable(scope) if scope.every_agency else or_(received(scope), sent(scope))
    answered_column = _answered().label("answered")
    query = (
        select(Delivery, Document, answered_column)
        .join(Document, Document.id == Delivery.document_id)
        .where(within, Delivery.overdue_at.is_not(None))
    )
    if answered is not None:
        query = query.where(_answered() if answered else ~_answered())
    if recipient_id is not None:
        query = query.where(Delivery.recipient_id == recipient_id)
    if cursor:
        due_raw, delivery_id = decode_cursor(cursor, str, str)
        try:
            due = as_utc(datetime.fromisoformat(due_raw))
        except (ValueError, OverflowError) as exc:
            raise InvalidCursor() from exc
        query = query.where(
            or_(Delivery.due_at < due, and_(Delivery.due_at == due, Delivery.id < delivery_id))
        )
    rows = session.execute(
        query.order_by(Delivery.due_at.desc(), Delivery.id.desc()).limit(limit + 1)
    ).all()
    items = [_item(actor, delivery, doc, bool(done)) for delivery, doc, done in rows[:limit]]
    next_cursor = None
    if len(rows) > limit and (last_due := rows[limit - 1][0].due_at) is not None:
        next_cursor = encode_cursor(as_utc(last_due).isoformat(), rows[limit - 1][0].id)
    return OverduePage(items=items, next_cursor=next_cursor)


def _item(actor: Actor, delivery: Delivery, doc: Document, answered: bool) -> OverdueItem:
    content = visibility(actor, parties_of(doc, [delivery])).content
    side: Literal["recipient", "sender"] | None = None
    if actor.kind not in WATCHERS:
        side = "recipient" if delivery.recipient_id == actor.agency_id else "sender"
    return OverdueItem(
        document_id=doc.id,
        business_id=doc.business_id,
        sender_id=doc.sender_id,
        recipient_id=delivery.recipient_id,
        side=side,
        subject=doc.subject if content else withheld_subject(doc),
        content_withheld=not content,
        urgency=doc.urgency,
        classification=doc.classification,
        status=delivery.status,
        answered=answered,
        delivered_at=rfc3339(delivery.delivered_at) if delivery.delivered_at else None,
        due_at=rfc3339(delivery.due_at) if delivery.due_at else None,
        overdue_at=rfc3339(delivery.overdue_at) if delivery.overdue_at else None,
    )
