"""The inbox and the outbox of an agency: the documents the policy's ``reach`` lets a principal
list, newest first, paged by cursor."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, lazyload

from docex.agencies.models import Agency
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
from docex.documents.models import Delivery, Document, DocumentRead
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
from docex.vocabulary import statuses
from docex.vocabulary.transport import FAILED


@dataclass(frozen=True)
class InboxFilter:
    """What an inbox query keeps: a business status, an urgency, a sender agency, a delivery
    time window (``since`` inclusive, ``until`` exclusive), and words (``q``) found in the
    number/notation (the business id) or, where the reader may read it, the subject."""

    status: str | None = None
    urgency: str | None = None
    sender: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def _contains(
    session: Session, column: InstrumentedAttribute[str], text: str
) -> ColumnElement[bool]:
    """Case-insensitive substring, Vietnamese included (SQLite's own lower() is ASCII only)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.unicode_lower(column).like(_like(text), escape="\\")
    return column.ilike(_like(text), escape="\\")


def _waiting_flash() -> ColumnElement[bool]:
    """A flash (hỏa tốc) document its recipient has not answered yet: the top of the desk."""
    return and_(Document.urgency == "flash", Delivery.status == statuses.ARRIVED)


def _inbox_query(session: Session, actor: Actor, where: InboxFilter) -> Select[Delivery, Document]:
    query = (
        select(Delivery, Document)
        .join(Document, Document.id == Delivery.document_id)
        .where(received(reach(actor, Action.READ_MAILBOX)))
        .options(lazyload(Document.files))  # a line shows none: no second statement for them
    )
    if where.status:
        query = query.where(Delivery.status == where.status)
    if where.urgency:
        query = query.where(Document.urgency == where.urgency)
    if where.sender:
        query = query.where(Document.sender_id == where.sender)
    if where.since is not None:
        query = query.where(Delivery.delivered_at >= where.since)
    if where.until is not None:
        query = query.where(Delivery.delivered_at < where.until)
    if where.q and (text := where.q.strip()):
        # The subject is content: searched only at the classifications the reader is cleared
        # for, or the search would tell an uncleared clerk what a withheld subject says.
        cleared = sorted(c.value for c in reach(actor, Action.READ_DOCUMENT).levels)
        query = query.where(
            or_(
                _contains(session, Document.business_id, text),
                and_(
                    Document.classification.in_(cleared),
                    _contains(session, Document.subject, text),
                ),
            )
        )
    return query


def _after(cursor: str, *, newer: bool) -> ColumnElement[bool]:
    at_raw, delivery_id = decode_cursor(cursor, str, str)
    try:
        at = as_utc(datetime.fromisoformat(at_raw))
    except (ValueError, OverflowError) as exc:
        raise InvalidCursor() from exc
    if newer:
        return or_(
            Delivery.delivered_at > at,
            and_(Delivery.delivered_at == at, Delivery.id > delivery_id),
        )
    return or_(
        Delivery.delivered_at < at,
        and_(Delivery.delivered_at == at, Delivery.id < delivery_id),
    )


def _mark(delivery: Delivery) -> str | None:
    """A line's place in the inbox, as a cursor (pages after it, arrivals before it)."""
    if delivery.delivered_at is None:
        return None
    return encode_cursor(as_utc(delivery.delivered_at).isoformat(), delivery.id)


def _item(actor: Actor, delivery: Delivery, doc: Document) -> InboxItem:
    content = visibility(actor, parties_of(doc, [delivery])).content
    return InboxItem(
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


def inbox(
    session: Session,
    actor: Actor,
    *,
    status: str | None,
    urgency: str | None,
    limit: int,
    cursor: str | None,
    sender: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: str | None = None,
) -> InboxPage:
    """A page of the inbox, newest first (``GET /api/v1/inbox``)."""
    where = InboxFilter(status, urgency, sender, since, until, q)
    page, _ = _page(session, actor, where, limit=limit, cursor=cursor, flash_apart=False)
    return page


def _page(
    session: Session,
    actor: Actor,
    where: InboxFilter,
    *,
    limit: int,
    cursor: str | None,
    flash_apart: bool,
) -> tuple[InboxPage, str | None]:
    query = _inbox_query(session, actor, where)
    if flash_apart:
        query = query.where(~_waiting_flash())
    if cursor:
        query = query.where(_after(cursor, newer=False))
    rows = session.execute(
        query.order_by(Delivery.delivered_at.desc(), Delivery.id.desc()).limit(limit + 1)
    ).all()
    items = [_item(actor, delivery, doc) for delivery, doc in rows[:limit]]
    next_cursor = _mark(rows[limit - 1][0]) if len(rows) > limit else None
    newest = _mark(rows[0][0]) if rows else None
    return InboxPage(items=items, next_cursor=next_cursor), newest


@dataclass
class _Lines:
    """Lines of the desk with what a person's view adds: read by them, the sender's name."""

    items: list[InboxItem] = field(default_factory=list)
    marks: list[str | None] = field(default_factory=list)  # each line's place (``_mark``)
    read: set[str] = field(default_factory=set)
    senders: dict[str, str] = field(default_factory=dict)


def _lines(
    session: Session, actor: Actor, query: Select[Delivery, Document], *, limit: int
) -> _Lines:
    """``query``'s lines, newest first, with the person's read state and the senders' names
    in the same statement (a correlated lookup by primary key, a join by primary key)."""
    read = (
        select(DocumentRead.document_id)
        .where(DocumentRead.principal_id == actor.id, DocumentRead.document_id == Document.id)
        .exists()
    )
    rows = session.execute(
        query.add_columns(read, Agency.name)
        .outerjoin(Agency, Agency.id == Document.sender_id)
        .order_by(Delivery.delivered_at.desc(), Delivery.id.desc())
        .limit(limit)
    ).all()
    found = _Lines()
    for delivery, doc, was_read, sender_name in rows:
        found.items.append(_item(actor, delivery, doc))
        found.marks.append(_mark(delivery))
        if was_read:
            found.read.add(doc.id)
        if sender_name is not None:
            found.senders[doc.sender_id] = sender_name
    return found


@dataclass(frozen=True)
class Desk:
    """The inbox as a clerk works it (the web UI's ``/ui/inbox``): the flash documents not yet
    answered first (``flash``, on the first page only, at most ``FLASH_LIMIT``), then every
    other line newest first, paged by cursor; ``newest`` marks the newest line shown, for
    ``arrivals``; ``read``, the lines the person has already read."""

    flash: list[InboxItem]
    page: InboxPage
    newest: str
    read: set[str]
    senders: dict[str, str]
    """The senders' names by code."""


FLASH_LIMIT = 100


def desk(
    session: Session,
    actor: Actor,
    where: InboxFilter,
    *,
    limit: int,
    cursor: str | None,
) -> Desk:
    """Two statements: the flash lines (first page only), then a page of the others."""
    flash = _Lines()
    if not cursor:
        flash = _lines(
            session,
            actor,
            _inbox_query(session, actor, where).where(_waiting_flash()),
            limit=FLASH_LIMIT,
        )
    query = _inbox_query(session, actor, where).where(~_waiting_flash())
    if cursor:
        query = query.where(_after(cursor, newer=False))
    page = _lines(session, actor, query, limit=limit + 1)
    more = len(page.items) > limit
    return Desk(
        flash=flash.items,
        page=InboxPage(
            items=page.items[:limit],
            next_cursor=page.marks[limit - 1] if more else None,
        ),
        newest=_latest([m for m in flash.marks[:1] + page.marks[:1] if m]),
        read=flash.read | page.read,
        senders=flash.senders | page.senders,
    )


# The mark before any line: an empty inbox's arrivals are everything.
FLOOR: Final = encode_cursor("0001-01-01T00:00:00+00:00", "")


def _latest(marks: list[str]) -> str:
    if not marks:
        return FLOOR

    def place(mark: str) -> tuple[datetime, str]:
        at, delivery_id = decode_cursor(mark, str, str)
        return datetime.fromisoformat(at), delivery_id

    return max(marks, key=place)


@dataclass(frozen=True)
class Arrivals:
    """Lines delivered after a mark (``desk``'s ``newest``), newest first; ``newest``, the mark
    of the newest of them (the mark given back when there are none)."""

    items: list[InboxItem]
    newest: str
    read: set[str] = field(default_factory=set)
    senders: dict[str, str] = field(default_factory=dict)


def arrivals(
    session: Session, actor: Actor, where: InboxFilter, *, after: str, limit: int
) -> Arrivals:
    """What arrived in the inbox since ``after``: one statement on the inbox index
    (recipient, delivery time), which is all an open inbox's poll costs when nothing did."""
    query = _inbox_query(session, actor, where).where(_after(after, newer=True))
    found = _lines(session, actor, query, limit=limit)
    if not found.items:
        return Arrivals(items=[], newest=after)
    return Arrivals(
        items=found.items, newest=found.marks[0] or after, read=found.read, senders=found.senders
    )


def waiting_flash(item: InboxItem) -> bool:
    """``_waiting_flash`` for a line already read: where the desk shows it."""
    return item.urgency == "flash" and item.status == statuses.ARRIVED


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
