"""The log's signed checkpoints as an auditor reviews them: each with its log signature checked,
its witnesses' cosignatures checked, and every fork anyone reported.

- :func:`checkpoint_history`: the latest checkpoints, newest first, by pages. For each, the
  log's signature verified with the log key (``checkpoints.open_checkpoint``) and every stored
  cosignature (c2sp.org/tlog-cosignature) verified again with the key stored beside it: a row
  changed after the witness posted it shows as not verifying. A cosigner named
  ``<node>/witness`` is a peer of the federation (``federation.witnessing.WITNESS_NAME``); any
  other is a witness an auditor runs (``docex audit witness``).
- The forks: those reported to this node by a witness of its log (``audit:fork:reported``,
  from ``docex audit witness`` or a peer), and those this node saw in a peer's log
  (``federation.witnessing.witnessed``: a peer with a standing fork is not cosigned again until
  an operator clears it).

Only ``READ_AUDIT`` may ask.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.audit import checkpoints, events, notes
from docex.audit.integrator import AuditLog
from docex.audit.models import AuditEvent, Checkpoint, Cosignature
from docex.auth.policy import Action, Actor, authorize
from docex.federation.witnessing import WITNESS_NAME, Witnessed, witnessed
from docex.kit.pagination import decode_cursor, encode_cursor

FORKS_SHOWN = 20
_PEER_SUFFIX = WITNESS_NAME.removeprefix("{node}")


@dataclass(frozen=True)
class CosignatureView:
    name: str
    key_id: str
    signed_at: datetime  # the time the witness signed, as signed
    peer: str | None  # the peer node whose witness key this is, or None: a witness of its own
    verified: bool


@dataclass(frozen=True)
class CheckpointView:
    tree_size: int
    root_hash: str  # base64, as in the note
    created_at: datetime
    signature: str  # the log's signature line
    verified: bool  # the log key's signature over this size and root
    cosignatures: list[CosignatureView]


@dataclass(frozen=True)
class ForkReport:
    at: datetime
    witness: str | None  # the peer that reported it, or the principal id of a witness
    reason: str
    cosigned_size: int | None


@dataclass(frozen=True)
class CheckpointHistory:
    origin: str
    log_key: str  # vkey
    checkpoints: list[CheckpointView]
    next_cursor: str | None
    forks_reported: list[ForkReport]  # newest first, at most FORKS_SHOWN
    peers: list[Witnessed]  # the peers' logs this node witnesses, forks included


def checkpoint_history(
    session: Session, actor: Actor, audit: AuditLog, *, limit: int, cursor: str | None
) -> CheckpointHistory:
    """The latest ``limit`` checkpoints (before ``cursor``), checked, with the forks."""
    authorize(actor, Action.READ_AUDIT)
    query = select(Checkpoint).order_by(Checkpoint.tree_size.desc())
    if cursor:
        (before,) = decode_cursor(cursor, int)
        query = query.where(Checkpoint.tree_size < before)
    rows = list(session.scalars(query.limit(limit + 1)))
    page = rows[:limit]
    cosigned: dict[int, list[Cosignature]] = {}
    if page:
        for c in session.scalars(
            select(Cosignature)
            .where(Cosignature.tree_size.in_([r.tree_size for r in page]))
            .order_by(Cosignature.id)
        ):
            cosigned.setdefault(c.tree_size, []).append(c)
    return CheckpointHistory(
        origin=audit.origin,
        log_key=audit.verifier.vkey(),
        checkpoints=[_view(r, cosigned.get(r.tree_size, []), audit) for r in page],
        next_cursor=encode_cursor(page[-1].tree_size) if len(rows) > limit else None,
        forks_reported=_forks(session),
        peers=witnessed(session),
    )


def _view(row: Checkpoint, cosigned: list[Cosignature], audit: AuditLog) -> CheckpointView:
    try:
        head, note = checkpoints.open_checkpoint(row.note, audit.verifier)
        verified = (head.size, head.root) == (row.tree_size, row.root_hash)
        text, lines = note.text, note.signatures
    except notes.NoteError:
        verified, text, lines = False, "", ()
    mine = next((s for s in lines if s.name == audit.origin), None)
    return CheckpointView(
        tree_size=row.tree_size,
        root_hash=base64.b64encode(row.root_hash).decode(),
        created_at=row.created_at,
        signature=mine.line().rstrip("\n") if mine else "",
        verified=verified,
        cosignatures=[_cosignature(c, text) for c in cosigned],
    )


def _cosignature(row: Cosignature, text: str) -> CosignatureView:
    verified = False
    if text:
        try:
            witness = notes.CosignatureVerifier(row.name, bytes(row.public_key))
            signature = notes.parse_signature_line(row.line)
            verified = (
                signature.key_id == witness.key_id
                and witness.verify(text.encode(), signature.signature)
                and witness.timestamp(signature.signature) == row.timestamp
            )
        except notes.NoteError:
            verified = False
    peer = row.name.removesuffix(_PEER_SUFFIX) if row.name.endswith(_PEER_SUFFIX) else None
    return CosignatureView(
        name=row.name,
        key_id=row.key_id,
        signed_at=datetime.fromtimestamp(row.timestamp, UTC),
        peer=peer,
        verified=verified,
    )


def _forks(session: Session) -> list[ForkReport]:
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.event == events.FORK_REPORTED)
        .order_by(AuditEvent.index.desc())
        .limit(FORKS_SHOWN)
    )
    return [_fork(r) for r in rows]


def _fork(row: AuditEvent) -> ForkReport:
    detail: dict[str, Any] = row.detail if isinstance(row.detail, dict) else {}
    size = detail.get("cosigned_size")
    return ForkReport(
        at=row.at,
        witness=str(detail.get("witness") or row.actor_id or "") or None,
        reason=str(detail.get("reason", "")),
        cosigned_size=size if isinstance(size, int) else None,
    )
