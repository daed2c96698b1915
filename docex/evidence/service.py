"""What the audit API does: serve checkpoints, entries and proofs, search, take cosignatures.

Every function here checks the access policy first (``READ_AUDIT`` to read, ``WITNESS_AUDIT``
to cosign or report a fork) and raises errors from ``docex.errors`` with their own codes. The
evidence bundle (``docex.evidence.bundle``) builds on :func:`entry_views` and ``docex.audit.tree``
proofs.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from docex.audit import checkpoints, events, leaves, notes, tree
from docex.audit.integrator import AuditLog
from docex.audit.models import EVENT_COLUMNS, AuditEvent, Cosignature, LogEntry
from docex.audit.schemas import (
    CheckpointOut,
    ConsistencyOut,
    CosignatureOut,
    EntryOut,
    EntryPage,
    EventOut,
    InclusionOut,
    SearchItem,
    SearchPage,
)
from docex.auth.models import Principal
from docex.auth.policy import Action, Actor, authorize
from docex.errors import NotFound, Unprocessable
from docex.kit.clock import rfc3339
from docex.kit.pagination import decode_cursor, encode_cursor

log = logging.getLogger(__name__)

MAX_ENTRIES = 1000
DEFAULT_ENTRIES = 100
FUTURE_SKEW = timedelta(minutes=5)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def event_out(row: Any) -> EventOut:
    """An event row (``EVENT_COLUMNS``) as the API shows it."""
    return EventOut(
        id=row.event_id,
        at=rfc3339(row.at),
        event=row.event,
        actor_id=row.actor_id,
        agency_id=row.agency_id,
        document_id=row.document_id,
        detail=row.detail,
    )


# -- checkpoints -------------------------------------------------------------------------------


def checkpoint_view(
    session: Session, actor: Actor, audit: AuditLog, size: int | None = None
) -> CheckpointOut:
    authorize(actor, Action.READ_AUDIT)
    return checkpoint_out(session, audit, size)


def checkpoint_out(session: Session, audit: AuditLog, size: int | None = None) -> CheckpointOut:
    """The checkpoint (latest or of ``size``) with its cosignatures, for whoever may see it
    (signed and verifiable: peers witnessing this log read it without credentials)."""
    row = checkpoints.latest(session) if size is None else checkpoints.at_size(session, size)
    if row is None:
        raise NotFound("no checkpoint of that size (yet)", code="checkpoint_not_found")
    cosigned = checkpoints.stored_cosignatures(session, row.tree_size)
    return CheckpointOut(
        origin=audit.origin,
        tree_size=row.tree_size,
        root_hash=_b64(row.root_hash),
        signed=checkpoints.with_cosignatures(row, cosigned),
        cosignatures=[
            CosignatureOut(
                name=c.name, key_id=c.key_id, timestamp=c.timestamp, signature=c.line.rstrip("\n")
            )
            for c in cosigned
        ],
        log_key=audit.verifier.vkey(),
        created_at=rfc3339(row.created_at),
    )


def add_cosignature(
    session: Session, actor: Actor, size: int, line: str, vkey: str, *, now: datetime
) -> tuple[CosignatureOut, bool]:
    """Store a witness's cosignature of the checkpoint of ``size`` after checking it; returns
    it and whether it is new (a second one from the same key is not stored)."""
    authorize(actor, Action.WITNESS_AUDIT)
    try:
        witness = notes.CosignatureVerifier.from_vkey(vkey)
    except notes.NoteError as exc:
        raise Unprocessable(str(exc), code="bad_cosignature") from exc
    return store_cosignature(session, size, line, witness, now=now)


def store_cosignature(
    session: Session,
    size: int,
    line: str,
    witness: notes.CosignatureVerifier,
    *,
    now: datetime,
) -> tuple[CosignatureOut, bool]:
    """:func:`add_cosignature` once the caller may cosign and ``witness`` is its key."""
    try:
        signature = notes.parse_signature_line(line)
    except notes.NoteError as exc:
        raise Unprocessable(str(exc), code="bad_cosignature") from exc
    if (signature.name, signature.key_id) != (witness.name, witness.key_id):
        raise Unprocessable("the signature line is not by that key", code="bad_cosignature")
    checkpoint = checkpoints.at_size(session, size)
    if checkpoint is None:
        raise NotFound(f"no checkpoint of size {size}", code="checkpoint_not_found")
    text = notes.parse(checkpoint.note).text
    if not witness.verify(text.encode(), signature.signature):
        raise Unprocessable("the cosignature does not verify", code="bad_cosignature")
    timestamp = witness.timestamp(signature.signature)
    if timestamp > (now + FUTURE_SKEW).timestamp():
        raise Unprocessable("the cosignature is dated in the future", code="bad_cosignature")
    key_id = witness.key_id.hex()
    existing = session.scalar(
        select(Cosignature).where(
            Cosignature.tree_size == size,
            Cosignature.name == witness.name,
            Cosignature.key_id == key_id,
        )
    )
    if existing is None:
        existing = Cosignature(
            tree_size=size,
            name=witness.name,
            key_id=key_id,
            public_key=witness.public_key,
            timestamp=timestamp,
            line=signature.line(),
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(existing)
        except IntegrityError:  # the same witness, concurrently: keep the first
            return store_cosignature(session, size, line, witness, now=now)[0], False
        created = True
    else:
        created = False
    out = CosignatureOut(
        name=existing.name,
        key_id=existing.key_id,
        timestamp=existing.timestamp,
        signature=existing.line.rstrip("\n"),
    )
    return out, created


def report_fork(
    session: Session,
    actor: Actor,
    *,
    reason: str,
    seen: str,
    cosigned: str | None,
    now: datetime,
) -> AuditEvent:
    """A witness saw a view of the log inconsistent with one it cosigned: record it, loudly."""
    authorize(actor, Action.WITNESS_AUDIT)
    log.error("a witness (%s) reports a fork of the audit log: %s", actor.id, reason[:200])
    return events.record(
        session,
        events.FORK_REPORTED,
        at=now,
        actor_id=actor.id,
        reason=reason,
        seen=seen,
        cosigned=cosigned,
    )


# -- entries and proofs ------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryView:
    position: int
    leaf_hash: bytes
    leaf: bytes
    event: EventOut


def entry_views(rows: list[Row[Any]]) -> list[EntryView]:
    """Entries from rows of (position, leaf_hash, *event columns), leaves rebuilt from rows."""
    out = []
    for row in rows:
        leaf = leaves.encode_row(row.position, row)
        out.append(EntryView(row.position, bytes(row.leaf_hash), leaf, event_out(row)))
    return out


def entries(session: Session, actor: Actor, start: int, end: int | None) -> EntryPage:
    authorize(actor, Action.READ_AUDIT)
    size = tree.size(session)
    if end is None:
        end = start + DEFAULT_ENTRIES
    if end < start:
        raise Unprocessable("end is before start", code="invalid_range")
    end = min(end, start + MAX_ENTRIES, size)
    rows = (
        session.execute(
            select(LogEntry.position, LogEntry.leaf_hash, *EVENT_COLUMNS)
            .join(AuditEvent, AuditEvent.index == LogEntry.event_index)
            .where(LogEntry.position >= start, LogEntry.position < end)
            .order_by(LogEntry.position)
        ).all()
        if start < end
        else []
    )
    items = [
        EntryOut(index=e.position, leaf_hash=_b64(e.leaf_hash), leaf=_b64(e.leaf), event=e.event)
        for e in entry_views(list(rows))
    ]
    return EntryPage(tree_size=size, items=items, next=end if end < size else None)


def _known_size(session: Session, tree_size: int) -> None:
    size = tree.size(session)
    if tree_size > size:
        raise NotFound(f"the log has {size} entries, not {tree_size}", code="tree_size_unknown")


def inclusion(session: Session, actor: Actor, index: int, tree_size: int) -> InclusionOut:
    authorize(actor, Action.READ_AUDIT)
    if not 0 <= index < tree_size:
        raise Unprocessable("index must be below tree_size", code="invalid_proof_request")
    try:  # two queries; the log's size is read only when a hash is missing
        leaf_hash, proof = tree.leaf_and_inclusion_proof(session, index, tree_size)
    except tree.TreeError:
        _known_size(session, tree_size)  # 404 if the log is smaller, else it was tampered with
        raise
    return InclusionOut(
        leaf_index=index,
        tree_size=tree_size,
        leaf_hash=_b64(leaf_hash),
        proof=[_b64(p) for p in proof],
    )


def consistency(session: Session, actor: Actor, first: int, second: int) -> ConsistencyOut:
    authorize(actor, Action.READ_AUDIT)
    return consistency_out(session, first, second)


def consistency_out(session: Session, first: int, second: int) -> ConsistencyOut:
    """A consistency proof for anyone (a proof is checked against signed checkpoints)."""
    if not 0 < first <= second:
        raise Unprocessable(
            "need 0 < first <= second (a proof from the empty tree proves nothing)",
            code="invalid_proof_request",
        )
    _known_size(session, second)
    proof = tree.consistency_proof(session, first, second) if first < second else []
    return ConsistencyOut(first=first, second=second, proof=[_b64(p) for p in proof])


# -- search --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchFilter:
    document: str | None = None
    agency: str | None = None
    principal: str | None = None  # a principal's id, or a person's username
    event: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def search(
    session: Session,
    actor: Actor,
    where: SearchFilter,
    *,
    limit: int,
    cursor: str | None,
    newest_first: bool = False,
) -> SearchPage:
    """Events matching every given filter, by event id (oldest first unless ``newest_first``),
    with their position. ``principal`` matches the principal of that id or that username."""
    authorize(actor, Action.READ_AUDIT)
    if where.event is not None and where.event not in events.vocabulary():
        raise Unprocessable(f"{where.event!r} is not an audit event", code="unknown_event")
    if where.since and where.until and where.until < where.since:
        raise Unprocessable("'to' is before 'from'", code="invalid_range")
    query = select(*EVENT_COLUMNS, LogEntry.position, LogEntry.leaf_hash).outerjoin(
        LogEntry, LogEntry.event_index == AuditEvent.index
    )
    for column, value in (
        (AuditEvent.document_id, where.document),
        (AuditEvent.agency_id, where.agency),
        (AuditEvent.event, where.event),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.principal is not None:
        named = select(Principal.id).where(Principal.username == where.principal)
        query = query.where(
            or_(AuditEvent.actor_id == where.principal, AuditEvent.actor_id.in_(named))
        )
    if where.since is not None:
        query = query.where(AuditEvent.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.at < where.until)
    if cursor:
        (after,) = decode_cursor(cursor, int)
        query = query.where(AuditEvent.index < after if newest_first else AuditEvent.index > after)
    order = AuditEvent.index.desc() if newest_first else AuditEvent.index
    rows = session.execute(query.order_by(order).limit(limit + 1)).all()
    page = rows[:limit]
    items = [
        SearchItem(
            index=row.position,
            leaf_hash=_b64(bytes(row.leaf_hash)) if row.leaf_hash is not None else None,
            event=event_out(row),
        )
        for row in page
    ]
    next_cursor = encode_cursor(page[-1].event_id) if len(rows) > limit else None
    return SearchPage(items=items, next_cursor=next_cursor)


def usernames(session: Session, ids: set[str]) -> dict[str, str]:
    """The username (or full name) of each principal of ``ids`` that has one, to show who."""
    if not ids:
        return {}
    rows = session.execute(
        select(Principal.id, Principal.username, Principal.full_name).where(Principal.id.in_(ids))
    ).all()
    return {r.id: r.username or r.full_name for r in rows if r.username or r.full_name}
