"""The sequencer: gives committed audit events dense log positions and extends the tree.

Events are written by ``events.record()`` in the transactions of the changes they record, each
with a row in ``audit_pending``. Their ids come from an autoincrement that PostgreSQL hands out
at INSERT time, so ids can *commit* out of order (id 7 visible before id 6), and a rolled-back
transaction burns its ids. Ids therefore cannot be log positions. Instead, one integrator at a
time, in one transaction:

1. takes the log lock: ``pg_advisory_xact_lock`` on PostgreSQL, held until commit or rollback;
   on SQLite, ``BEGIN IMMEDIATE`` (``Database.write``) already holds the database's write lock;
2. reads the log's size ``n`` (its highest position + 1) and the frontier of the stored tree;
3. takes committed events still pending, in id order, and appends them at positions
   ``n, n+1, ...``: the leaf (``docex.audit.leaves``, which includes the position) hashed into
   ``audit_log``, every complete subtree that closes into ``audit_tree``;
4. deletes their pending rows, signs a checkpoint if one is due, and commits.

Why no position can be skipped or reused:

- Positions are not drawn from a sequence but counted from the stored size, read under the
  lock. The lock is released only when the previous holder's transaction has ended, and in
  READ COMMITTED (PostgreSQL's default, which docex uses) each statement sees everything
  committed before it began, so step 2 sees every earlier append: the next position is exactly
  one past the last committed one. A pass that fails rolls back everything, pending rows
  included, and the next pass starts again from the same ``n``: nothing was consumed, so there
  is no gap to leave.
- ``position`` is the primary key and ``event_index`` is unique: even a process that ignored
  the lock could not write a second leaf at a position or a second position for an event; its
  transaction would fail and change nothing.
- Triggers refuse UPDATE and DELETE on ``audit_log`` and ``audit_tree``, so a committed
  position can never be vacated and refilled.

Any number of processes may run the integrator; the lock makes them take turns. An event is
integrated by the first pass that sees it committed; one committed late (after higher ids) just
takes the next free position, so log order is commit order, not id order.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy.orm import Session

from docex.audit import checkpoints, leaves, merkle, notes, tree
from docex.audit.models import EVENT_COLUMNS, AuditEvent, AuditPending, LogEntry, TreeNode

_LOG = cast(Table, LogEntry.__table__)
_TREE = cast(Table, TreeNode.__table__)
_PENDING = cast(Table, AuditPending.__table__)

# A fixed 63-bit key for pg_advisory_xact_lock, derived from a name so it is recognisable.
LOCK_KEY = zlib.crc32(b"docex.audit.log") << 16 | 0xA0D1


@dataclass(frozen=True)
class CheckpointPolicy:
    """Sign a checkpoint when ``every_events`` leaves were added since the last one, or when
    ``every_seconds`` have passed and the tree has grown."""

    every_events: int = 1000
    every_seconds: float = 60.0

    def due(
        self, last_size: int | None, last_at: datetime | None, size: int, now: datetime
    ) -> bool:
        if last_size is None or last_at is None:
            return size > 0
        if size <= last_size:
            return False
        return size - last_size >= self.every_events or now - last_at >= timedelta(
            seconds=self.every_seconds
        )


@dataclass(frozen=True)
class Pass:
    """What one integration pass did."""

    appended: int
    size: int
    checkpoint: int | None  # size of the checkpoint it signed, if any


def lock_log(session: Session) -> None:
    """Take the log lock for the rest of the transaction (SQLite: already held)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def integrate(session: Session, *, limit: int) -> tuple[int, merkle.Frontier]:
    """Append up to ``limit`` pending events; the caller holds the log lock. Returns how many
    were appended and the tree's new frontier."""
    size = tree.size(session)
    frontier = tree.frontier(session, size)
    rows = (
        session.connection()
        .execute(  # Core execution: no ORM per-row loading
            select(*EVENT_COLUMNS, LogEntry.position)
            .select_from(AuditPending)
            .join(AuditEvent, AuditEvent.index == AuditPending.event_index)
            .outerjoin(LogEntry, LogEntry.event_index == AuditPending.event_index)
            .order_by(AuditPending.event_index)
            .limit(limit)
        )
        .all()
    )
    if not rows:
        return 0, frontier
    entries: list[dict[str, object]] = []
    nodes: list[dict[str, object]] = []
    for row in rows:
        if row.position is not None:
            continue  # already in the log (a pending row left behind): only dequeue it
        position = size + len(entries)
        digest = merkle.leaf_hash(leaves.encode_row(position, row))
        entries.append({"position": position, "event_index": row.event_id, "leaf_hash": digest})
        nodes.extend(
            {"level": level, "idx": idx, "hash": h} for level, idx, h in frontier.append(digest)
        )
    connection = session.connection()  # Core: thousands of rows, no ORM bookkeeping
    if entries:
        connection.execute(insert(_LOG), entries)
    if nodes:
        connection.execute(insert(_TREE), nodes)
    dequeued = [row.event_id for row in rows]
    connection.execute(delete(_PENDING).where(_PENDING.c.event_index.in_(dequeued)))
    return len(entries), frontier


def run_pass(
    session: Session,
    signer: notes.EcdsaSigner,
    policy: CheckpointPolicy,
    *,
    now: datetime,
    limit: int,
    force_checkpoint: bool = False,
) -> Pass:
    """One integration pass in the caller's write transaction: lock, append, maybe sign."""
    lock_log(session)
    appended, frontier = integrate(session, limit=limit)
    last = checkpoints.latest(session)
    last_size = last.tree_size if last else None
    signed = None
    due = policy.due(last_size, last.created_at if last else None, frontier.size, now)
    if (force_checkpoint and frontier.size != last_size) or due:
        head = checkpoints.TreeHead(signer.name, frontier.size, frontier.root())
        checkpoints.store(session, checkpoints.sign(signer, head), head, now=now)
        signed = frontier.size
    return Pass(appended=appended, size=frontier.size, checkpoint=signed)
