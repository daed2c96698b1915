"""Full verification of the stored log: re-derive the tree from the events, check it all.

``verify_log`` reads every log entry in position order with its event, rebuilds each leaf
(``docex.audit.leaves``) and the tree from those leaves alone, and compares, chunk by chunk:

- positions are dense from 0 and each names an existing event, each event at most once;
- each event hashes to the leaf hash stored at its position;
- each complete subtree stored in ``audit_tree`` equals the one rebuilt, and none lies beyond
  the log; every event is in the log or still pending;
- each stored checkpoint is a well-formed C2SP checkpoint of this log, signed by the trusted
  log key, whose size is within the log and whose root is the rebuilt root at that size;
- each stored cosignature verifies (against the witness key stored with it, and against the
  trusted witness keys if any are given).

What it guarantees: if it reports no problem, the stored events are exactly the leaves under
every stored signed checkpoint. Against whom: an operator who edits the database. Edits that
leave the log internally consistent (a rebuilt tree) break the checkpoint signatures unless
the operator also holds the log key; then only witnesses, who remember what they cosigned,
catch it (``docex.audit.witness``).

Every problem carries the first leaf index it concerns, so the report names the first bad
index (the smallest). A good checkpoint of size g (signed, root matching the events) vouches
for leaves [0, g), and that is used to locate what hashes alone cannot:

- an event, a leaf hash or a position that was changed, deleted, inserted, duplicated or moved
  is located exactly (leaves commit to their position);
- a stored subtree hash that no longer matches concerns the leaves under it not vouched for by
  a good checkpoint; if good checkpoints vouch for all of them, the stored hash itself was
  forged, and its first leaf is reported;
- a checkpoint that fails (signature, root) concerns the leaves after the largest good
  checkpoint below it (a tree rebuilt and re-signed); if a good checkpoint above it vouches for
  everything, the checkpoint row itself was altered and its size is reported;
- such a problem over a range of leaves is placed at the first entry found bad in that range
  (it is its consequence), else at the start of the range.

So the location is as fine as checkpoints are dense where the tree alone is ambiguous (a
forged leaf hash is one of the two leaves under a level-1 hash).

Problem codes: ``position_missing``, ``position_duplicated`` (the positions are not dense; the
scan stops there), ``event_missing`` (an entry names no event), ``event_duplicated``,
``entry_unreadable`` (an event that cannot be encoded), ``leaf_mismatch`` (an event does not hash
to the leaf stored at its position), ``tree_node_missing``, ``tree_node_altered``,
``tree_node_unexpected`` (beyond the log), ``event_not_logged`` (neither in the log nor pending),
``checkpoint_signature`` (malformed, other log, or not signed by the trusted key),
``checkpoint_mismatch`` (note and columns differ), ``checkpoint_beyond_log``,
``checkpoint_root``, ``cosignature_invalid``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from docex.audit import checkpoints, leaves, merkle, notes
from docex.audit.models import (
    EVENT_COLUMNS,
    AuditEvent,
    AuditPending,
    Checkpoint,
    Cosignature,
    LogEntry,
    TreeNode,
)
from docex.db import Database

CHUNK = 1 << 16


@contextmanager
def snapshot(db: Database) -> Iterator[Session]:
    """A read-only session that sees one state of the database throughout, so a node that goes
    on logging while it is verified does not look inconsistent (PostgreSQL: REPEATABLE READ;
    SQLite in WAL mode: any read transaction)."""
    if db.dialect != "postgresql":
        with db.read() as session:
            yield session
        return
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ")
        with Session(bind=connection) as session:
            yield session
        connection.rollback()


@dataclass(frozen=True)
class Problem:
    index: int  # the first leaf index concerned
    code: str
    detail: str
    end: int | None = None  # for a subtree or a checkpoint: the end of the leaves concerned


@dataclass(frozen=True)
class Report:
    size: int  # entries read
    checkpoints: int  # checkpoints verified good
    cosignatures: int  # cosignatures verified good
    problems: tuple[Problem, ...]
    more_problems: int  # problems found but not kept

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_index(self) -> int | None:
        return min((p.index for p in self.problems), default=None)


@dataclass
class _Scan:
    keep: int
    problems: list[Problem] = field(default_factory=list)
    dropped: int = 0

    def add(self, index: int, code: str, detail: str, end: int | None = None) -> None:
        if len(self.problems) < self.keep:
            self.problems.append(Problem(index, code, detail, end))
        else:
            self.dropped += 1

    def located(self, good: Sequence[int]) -> tuple[Problem, ...]:
        """Problems located with the help of the good checkpoints (sorted sizes), as the
        module docstring says: a problem over a range of leaves [lo, end) is placed at the
        first entry found bad in that range, if any (it is a consequence of it), else at lo."""

        def below(end: int) -> int:
            at = bisect.bisect_left(good, end) - 1
            return good[at] if at >= 0 else 0

        def vouched(end: int) -> bool:
            return bool(good) and good[-1] >= end

        exact = sorted(p.index for p in self.problems if p.end is None)

        def place(lo: int, end: int) -> int:
            at = bisect.bisect_left(exact, lo)
            return exact[at] if at < len(exact) and exact[at] < end else lo

        out = []
        for p in self.problems:
            index = p.index
            if p.end is not None and p.code.startswith("tree_"):  # subtree [index, end)
                lo = p.index if vouched(p.end) else max(p.index, below(p.end))
                index = place(lo, p.end)
            elif p.end is not None:  # a checkpoint of size end, or a cosignature of one
                # Vouched for by a larger good checkpoint: the row itself was altered.
                index = p.end if vouched(p.end) else place(below(p.end), p.end)
            out.append(Problem(index, p.code, p.detail, p.end))
        return tuple(sorted(out, key=lambda p: p.index))


def _closing_nodes(start: int, end: int) -> list[tuple[int, int, int]]:
    """(level, first idx, last idx) of the subtrees (level >= 1) whose last leaf is in
    [start, end)."""
    out = []
    for level in range(1, end.bit_length() + 1):
        lo, hi = ((start + (1 << level)) >> level) - 1, (end >> level) - 1
        if lo <= hi:
            out.append((level, lo, hi))
    return out


def _stored_nodes(session: Session, start: int, end: int) -> dict[merkle.Node, bytes]:
    spans = _closing_nodes(start, end)
    if not spans:
        return {}
    condition = or_(
        *(and_(TreeNode.level == lv, TreeNode.idx.between(lo, hi)) for lv, lo, hi in spans)
    )
    return {
        (int(lv), int(i)): bytes(h)
        for lv, i, h in session.execute(
            select(TreeNode.level, TreeNode.idx, TreeNode.hash).where(condition)
        )
    }


def verify_log(
    session: Session,
    log_key: notes.EcdsaVerifier,
    *,
    witnesses: Sequence[notes.CosignatureVerifier] = (),
    progress: Callable[[int, int], None] | None = None,
    keep_problems: int = 100,
    chunk: int = CHUNK,
) -> Report:
    scan = _Scan(keep_problems)
    last = session.scalar(select(func.max(LogEntry.position)))
    total = 0 if last is None else int(last) + 1
    stored_checkpoints = list(session.scalars(select(Checkpoint).order_by(Checkpoint.tree_size)))
    wanted_roots = {c.tree_size for c in stored_checkpoints}
    roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}
    frontier = merkle.Frontier()
    seen_events = bytearray()
    broken = False
    start = 0
    while start < total and not broken:
        end = min(start + chunk, total)
        stored = _stored_nodes(session, start, end)
        # Core, not ORM, execution: a million rows without the ORM's per-row loading.
        rows = session.connection().execute(
            select(
                LogEntry.position,
                LogEntry.event_index,
                LogEntry.leaf_hash,
                *EVENT_COLUMNS,
            )
            .outerjoin(AuditEvent, AuditEvent.index == LogEntry.event_index)
            .where(LogEntry.position >= start, LogEntry.position < end)
            .order_by(LogEntry.position)
        )
        for row in rows:
            position = frontier.size
            if row.position != position:
                if row.position < position:
                    scan.add(row.position, "position_duplicated", "two entries at one position")
                else:
                    scan.add(position, "position_missing", f"no entry at position {position}")
                broken = True  # the rest cannot be placed in the tree
                break
            digest = bytes(row.leaf_hash)
            if row.event_id is None:
                scan.add(position, "event_missing", f"event {row.event_index} does not exist")
            else:
                index = int(row.event_id)
                if index >= len(seen_events) * 8:
                    seen_events.extend(bytes(max(index // 8 + 1 - len(seen_events), 4096)))
                if seen_events[index >> 3] & (1 << (index & 7)):
                    scan.add(position, "event_duplicated", f"event {index} is in the log twice")
                seen_events[index >> 3] |= 1 << (index & 7)
                try:
                    leaf = leaves.encode_row(position, row)
                except (leaves.LeafError, TypeError, ValueError) as exc:
                    scan.add(position, "entry_unreadable", f"event {index}: {exc}")
                else:
                    rebuilt = merkle.leaf_hash(leaf)
                    if rebuilt != digest:
                        scan.add(
                            position,
                            "leaf_mismatch",
                            f"event {index} does not hash to the leaf stored at {position}",
                        )
                    digest = rebuilt
            for level, idx, h in frontier.append(digest):
                node = stored.pop((level, idx), None)
                first, last = idx << level, (idx + 1) << level
                if node is None:
                    scan.add(first, "tree_node_missing", f"no stored hash {level}/{idx}", last)
                elif node != h:
                    scan.add(first, "tree_node_altered", f"stored hash {level}/{idx}", last)
            if frontier.size in wanted_roots:
                roots[frontier.size] = frontier.root()
        start = end
        if progress is not None:
            progress(min(start, total), total)
    size = frontier.size
    if not broken:
        _check_extra_nodes(session, size, scan)
    _check_unlogged_events(session, size, scan)
    good, good_cosignatures = _check_checkpoints(
        session, stored_checkpoints, roots, size, log_key, witnesses, scan
    )
    return Report(
        size=size,
        checkpoints=len(good),
        cosignatures=good_cosignatures,
        problems=scan.located(good),
        more_problems=scan.dropped,
    )


def _check_extra_nodes(session: Session, size: int, scan: _Scan) -> None:
    beyond = or_(
        *(
            and_(TreeNode.level == lv, TreeNode.idx >= size >> lv)
            for lv in range(1, max(size.bit_length(), 1) + 1)
        ),
        TreeNode.level > max(size.bit_length(), 1),
        TreeNode.level < 1,
    )
    for level, idx in session.execute(select(TreeNode.level, TreeNode.idx).where(beyond)):
        scan.add(size, "tree_node_unexpected", f"stored hash {level}/{idx} beyond the log")


def _check_unlogged_events(session: Session, size: int, scan: _Scan) -> None:
    lost = session.scalars(
        select(AuditEvent.index)
        .outerjoin(LogEntry, LogEntry.event_index == AuditEvent.index)
        .outerjoin(AuditPending, AuditPending.event_index == AuditEvent.index)
        .where(LogEntry.position.is_(None), AuditPending.event_index.is_(None))
        .limit(10)
    ).all()
    for index in lost:
        scan.add(size, "event_not_logged", f"event {index} is neither in the log nor pending")


def _check_checkpoints(
    session: Session,
    stored: Sequence[Checkpoint],
    roots: dict[int, bytes],
    size: int,
    log_key: notes.EcdsaVerifier,
    witnesses: Sequence[notes.CosignatureVerifier],
    scan: _Scan,
) -> tuple[list[int], int]:
    """The sizes of the good checkpoints (sorted) and the number of good cosignatures; each
    bad checkpoint is a problem whose leaves end at its size."""
    cosigned: dict[int, list[Cosignature]] = {}
    for cosignature in session.scalars(select(Cosignature).order_by(Cosignature.id)):
        cosigned.setdefault(cosignature.tree_size, []).append(cosignature)
    good: list[int] = []
    good_cosignatures = 0
    for row in stored:
        where = f"checkpoint of size {row.tree_size}"
        end = row.tree_size
        try:
            head, note = checkpoints.open_checkpoint(row.note, log_key)
        except notes.NoteError as exc:
            scan.add(0, "checkpoint_signature", f"{where}: {exc}", end)
            continue
        if (head.size, head.root) != (row.tree_size, bytes(row.root_hash)):
            scan.add(0, "checkpoint_mismatch", f"{where}: note and columns differ", end)
            continue
        if head.size > size:
            scan.add(size, "checkpoint_beyond_log", f"{where}, but the log has {size} entries")
            continue
        if roots.get(head.size) != head.root:
            scan.add(0, "checkpoint_root", f"{where}: the entries give another root", end)
            continue
        before = len(scan.problems) + scan.dropped
        good_cosignatures += _check_cosignatures(
            note.text, cosigned.get(row.tree_size, []), witnesses, where, scan
        )
        if len(scan.problems) + scan.dropped == before:
            good.append(head.size)
    return sorted(good), good_cosignatures


def _check_cosignatures(
    text: str,
    rows: Sequence[Cosignature],
    witnesses: Sequence[notes.CosignatureVerifier],
    where: str,
    scan: _Scan,
) -> int:
    trusted = {(w.name, w.key_id): w for w in witnesses}
    good = 0
    for row in rows:
        try:
            witness = notes.CosignatureVerifier(row.name, bytes(row.public_key))
            sig = notes.parse_signature_line(row.line)
        except notes.NoteError as exc:
            scan.add(0, "cosignature_invalid", f"{where}, {row.name}: {exc}", row.tree_size)
            continue
        pinned = trusted.get((sig.name, sig.key_id))
        checks = [witness] if pinned is None else [witness, pinned]
        if (
            sig.name != row.name
            or sig.key_id != witness.key_id
            or row.key_id != witness.key_id.hex()
            or not all(w.verify(text.encode(), sig.signature) for w in checks)
            or witness.timestamp(sig.signature) != row.timestamp
        ):
            scan.add(0, "cosignature_invalid", f"{where}: cosignature by {row.name}", row.tree_size)
            continue
        good += 1
    return good
