"""A document's trace with the proof of each event: what an auditor reads on one screen.

:func:`proven_trace` takes the trace the auditor may see (``documents.views.trace``: the
policy's ``Visibility.shows_event``, nothing filtered here) and, for each event, checks on the
server what an offline verifier would (RFC 9162 §2.1.3.2): the latest checkpoint's signature
by the log key, the event's leaf rebuilt from its stored row (``leaves.encode_row``), and its
inclusion proof from that leaf to the checkpoint's root. An event is

- ``proven`` when all three hold,
- ``pending`` when it is not yet in the latest checkpoint's tree (not integrated, or integrated
  after it was signed),
- ``failed`` when the checkpoint does not verify, the stored row does not rebuild the logged
  leaf, or the proof does not lead to the root: the log or the event was changed after the fact.

Only ``READ_AUDIT`` may ask (auditors): the parties of a document read its trace without proofs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from docex.audit import checkpoints, leaves, merkle, notes, tree
from docex.audit.integrator import AuditLog
from docex.audit.models import EVENT_COLUMNS, AuditEvent, LogEntry
from docex.auth.policy import Action, Actor, authorize
from docex.documents.schemas import TraceItem
from docex.documents.views import trace
from docex.evidence import bundle
from docex.signing.jws import NodeSigner


class ProofStatus(StrEnum):
    PROVEN = "proven"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True)
class ProvenEvent:
    item: TraceItem
    position: int | None  # the event's log position; None until integrated
    status: ProofStatus
    problem: str | None = None  # why it failed


@dataclass(frozen=True)
class ProvenTrace:
    events: list[ProvenEvent]
    total: int  # events in the whole trace
    start: int  # the place of ``events[0]`` in it
    tree_size: int | None  # the latest checkpoint's size; None if the log has none yet
    checkpoint_at: datetime | None
    checkpoint_valid: bool  # its signature verifies with the log key


def proven_trace(
    session: Session,
    actor: Actor,
    document_id: str,
    *,
    audit: AuditLog,
    node_id: str,
    start: int = 0,
    limit: int | None = None,
) -> ProvenTrace:
    """The trace of ``document_id`` as ``actor`` sees it, its events ``[start, start + limit)``
    each with its proof status against the latest signed checkpoint (a broadcast's trace runs
    to thousands of events, each proof a few reads); DocumentNotFound as the trace."""
    authorize(actor, Action.READ_AUDIT)
    every = trace(session, actor, document_id, node_id=node_id)
    items = every[start:] if limit is None else every[start : start + limit]
    latest = checkpoints.latest(session)
    head: checkpoints.TreeHead | None = None
    if latest is not None:
        try:
            head, _ = checkpoints.open_checkpoint(latest.note, audit.verifier)
        except notes.NoteError:
            head = None
        if head is not None and (head.size, head.root) != (latest.tree_size, latest.root_hash):
            head = None  # the stored columns say otherwise than the signed note
    logged = (
        {
            row.event_id: row
            for row in session.execute(
                select(LogEntry.position, LogEntry.leaf_hash, *EVENT_COLUMNS)
                .join(AuditEvent, AuditEvent.index == LogEntry.event_index)
                .where(
                    AuditEvent.document_id == document_id,
                    AuditEvent.index.between(items[0].audit_index, items[-1].audit_index),
                )
            )
        }
        if items
        else {}
    )
    out = []
    for item in items:
        row = logged.get(item.audit_index)
        if row is None:
            out.append(ProvenEvent(item, None, ProofStatus.PENDING))
        elif latest is None or row.position >= latest.tree_size:
            out.append(ProvenEvent(item, row.position, ProofStatus.PENDING))
        elif head is None:
            out.append(
                ProvenEvent(
                    item, row.position, ProofStatus.FAILED, "the checkpoint does not verify"
                )
            )
        else:
            out.append(_prove(session, item, row, head))
    return ProvenTrace(
        events=out,
        total=len(every),
        start=start,
        tree_size=latest.tree_size if latest else None,
        checkpoint_at=latest.created_at if latest else None,
        checkpoint_valid=head is not None,
    )


def auditor_bundle(
    session: Session,
    actor: Actor,
    document_id: str,
    *,
    signer: NodeSigner,
    audit: AuditLog,
    now: datetime,
) -> bytes:
    """The evidence bundle as the auditor's screens serve it: ``READ_AUDIT`` first, then
    ``bundle.build`` as ``GET /documents/{id}/evidence`` does (the parties fetch theirs there)."""
    authorize(actor, Action.READ_AUDIT)
    return bundle.build(session, actor, document_id, signer=signer, audit=audit, now=now)


def _prove(
    session: Session, item: TraceItem, row: Row[Any], head: checkpoints.TreeHead
) -> ProvenEvent:
    position = int(row.position)
    leaf_hash = merkle.leaf_hash(leaves.encode_row(position, row))
    if leaf_hash != bytes(row.leaf_hash):
        return ProvenEvent(
            item, position, ProofStatus.FAILED, "the event is not the one that was logged"
        )
    try:
        _, proof = tree.leaf_and_inclusion_proof(session, position, head.size)
        merkle.verify_inclusion(position, head.size, leaf_hash, proof, head.root)
    except (merkle.ProofError, tree.TreeError) as exc:
        return ProvenEvent(item, position, ProofStatus.FAILED, str(exc))
    return ProvenEvent(item, position, ProofStatus.PROVEN)
