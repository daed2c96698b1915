"""What an operator with database access can do to the log, for the tamper suite.

``small_log`` builds a real log (events recorded by ``events.record``, integrated one by one so
that there is a signed checkpoint at every size, some of them cosigned). ``unguard`` does what
such an operator would do first: drop the triggers and constraints that stand in the way (on
PostgreSQL, triggers disabled and the two hash tables replaced by unconstrained copies; on
SQLite, triggers dropped, foreign keys deferred, same copies). Each mutation then changes the
stored log in one way and returns the index a verifier must report as the first bad one.
Everything happens in one transaction that the caller rolls back.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from docex.audit import checkpoints, events, leaves, merkle, notes
from docex.audit.integrator import AuditLog
from docex.audit.models import AuditEvent, Checkpoint, Cosignature, LogEntry, TreeNode
from docex.config import AuditSettings
from docex.db import Database
from docex.kit.clock import SystemClock

ORIGIN = "tamper.test/audit"
NAMES = sorted(events.vocabulary())


@dataclass(frozen=True)
class SmallLog:
    base: int  # entries before those recorded one by one (one checkpoint covers them)
    size: int
    signer: notes.EcdsaSigner
    root: bytes

    def position(self, rng: random.Random) -> int:
        """A position where checkpoints are dense (one per size)."""
        return rng.randrange(self.base, self.size)


def small_log(db: Database, entries: int, seed: int) -> SmallLog:
    """The database's own events in one checkpoint, then ``entries`` more of every kind, each
    integrated alone with a checkpoint of its own."""
    rng = random.Random(seed)  # noqa: S311 (reproducible, not secret)
    signer = notes.EcdsaSigner(ORIGIN, ec.generate_private_key(ec.SECP256R1()))
    settings = AuditSettings(batch_size=10_000, checkpoint_events=1)
    audit = AuditLog(db, signer, settings, clock=SystemClock())
    base = audit.integrate()  # the demo seed's own events come first
    settings.batch_size = 1
    witness = notes.Cosigner("witness.test/w", ed25519.Ed25519PrivateKey.generate())
    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    for _ in range(entries):
        with db.write() as session:
            events.record(
                session,
                rng.choice(NAMES),
                at=t0 + timedelta(microseconds=rng.randrange(10**12)),
                actor_id=rng.choice([None, f"actor-{rng.randrange(99)}"]),
                agency_id=rng.choice([None, "000.00.00.G22", "000.00.00.H41"]),
                document_id=rng.choice([None, f"doc-{rng.randrange(999)}"]),
                note=rng.choice(["", "Về việc", "x" * rng.randrange(30)]),
                n=rng.randrange(10**6),
                items=[rng.randrange(9) for _ in range(rng.randrange(4))],
            )
        done = audit.run_pass()
        if done.checkpoint and rng.random() < 0.3:
            _cosign(db, witness, done.checkpoint)
    head = audit.checkpoint()
    return SmallLog(base, head.size, signer, head.root)


def _cosign(db: Database, witness: notes.Cosigner, size: int) -> None:
    with db.write() as session:
        row = session.get(Checkpoint, size)
        assert row is not None
        text_ = notes.parse(row.note).text
        sig = witness.cosign(text_, 1_790_000_000 + size)
        session.add(
            Cosignature(
                tree_size=size,
                name=witness.name,
                key_id=witness.verifier.key_id.hex(),
                public_key=witness.verifier.public_key,
                timestamp=1_790_000_000 + size,
                line=sig.line(),
                created_at=datetime.now(UTC),
            )
        )


_SQLITE_TRIGGERS = [
    f"{table}_no_{action}"
    for table in (
        "audit_events",
        "audit_log",
        "audit_tree",
        "audit_checkpoints",
        "audit_cosignatures",
    )
    for action in ("update", "delete")
]


def unguard(session: Session) -> None:
    """Drop what refuses the edits, in the current transaction."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        session.execute(text("PRAGMA defer_foreign_keys = ON"))
        for trigger in _SQLITE_TRIGGERS:
            session.execute(text(f"DROP TRIGGER {trigger}"))
    else:
        for table in ("audit_events", "audit_checkpoints", "audit_cosignatures", "audit_pending"):
            session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER ALL"))
    for table in ("audit_log", "audit_tree"):  # no primary key, no unique, no trigger
        session.execute(text(f"CREATE TABLE {table}_copy AS SELECT * FROM {table}"))  # noqa: S608
        session.execute(text(f"DROP TABLE {table}"))
        session.execute(text(f"ALTER TABLE {table}_copy RENAME TO {table}"))


# -- mutations: each returns the first bad index --------------------------------------------------


def _event_at(session: Session, position: int) -> AuditEvent:
    index = session.scalar(select(LogEntry.event_index).where(LogEntry.position == position))
    row = session.get(AuditEvent, index)
    assert row is not None
    return row


def _leaf_hash(position: int, e: AuditEvent) -> bytes:
    leaf = leaves.encode(
        position, e.index, e.at, e.event, e.actor_id, e.agency_id, e.document_id, e.detail
    )
    return merkle.leaf_hash(leaf)


def _flip_char(rng: random.Random, value: str) -> str:
    i = rng.randrange(len(value))
    choices = [c for c in string.ascii_lowercase + string.digits if c != value[i]]
    return value[:i] + rng.choice(choices) + value[i + 1 :]


def _flip_bit(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data) * 8)
    out = bytearray(data)
    out[i // 8] ^= 1 << (i % 8)
    return bytes(out)


def _alter_event(session: Session, rng: random.Random, row: AuditEvent) -> None:
    """Change one byte (one character, one microsecond) of one field of a stored event."""
    field = rng.choice(["event", "actor_id", "agency_id", "document_id", "at", "detail"])
    value: Any
    if field == "at":
        value = row.at + timedelta(microseconds=rng.choice([-1, 1]))
    elif field == "detail":
        canonical = leaves.canonical_detail(row.detail).decode()
        while True:
            candidate = _flip_char(rng, canonical)
            try:
                value = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(value, dict) and value != row.detail:
                break
    else:
        current = getattr(row, field)
        value = "x" if current is None else _flip_char(rng, current)
    session.execute(update(AuditEvent).where(AuditEvent.index == row.index).values({field: value}))
    session.expire_all()


def change_event(session: Session, rng: random.Random, log: SmallLog) -> int:
    p = log.position(rng)
    _alter_event(session, rng, _event_at(session, p))
    return p


def change_leaf_hash(session: Session, rng: random.Random, log: SmallLog) -> int:
    p = log.position(rng)
    old = session.scalar(select(LogEntry.leaf_hash).where(LogEntry.position == p))
    assert old is not None
    new = _flip_bit(rng, bytes(old))
    session.execute(update(LogEntry).where(LogEntry.position == p).values(leaf_hash=new))
    return p


def _random_node(session: Session, rng: random.Random) -> tuple[int, int, bytes]:
    nodes = session.execute(select(TreeNode.level, TreeNode.idx, TreeNode.hash)).all()
    level, idx, digest = rng.choice(nodes)
    return int(level), int(idx), bytes(digest)


def change_tree_node(session: Session, rng: random.Random, log: SmallLog) -> int:
    level, idx, digest = _random_node(session, rng)
    session.execute(
        update(TreeNode)
        .where(TreeNode.level == level, TreeNode.idx == idx)
        .values(hash=_flip_bit(rng, digest))
    )
    return idx << level


def delete_entry(session: Session, rng: random.Random, log: SmallLog) -> int:
    p = log.position(rng)
    session.execute(delete(LogEntry).where(LogEntry.position == p))
    return p


def delete_event(session: Session, rng: random.Random, log: SmallLog) -> int:
    p = log.position(rng)
    row = _event_at(session, p)
    session.execute(delete(AuditEvent).where(AuditEvent.index == row.index))
    return p


def delete_tree_node(session: Session, rng: random.Random, log: SmallLog) -> int:
    level, idx, _ = _random_node(session, rng)
    session.execute(delete(TreeNode).where(TreeNode.level == level, TreeNode.idx == idx))
    return idx << level


def _shift_from(session: Session, p: int) -> None:
    session.execute(
        text("UPDATE audit_log SET position = position + 1 WHERE position >= :p"), {"p": p}
    )


def insert_event(session: Session, rng: random.Random, log: SmallLog) -> int:
    """A forged event slipped in at p, its leaf hash computed properly, later ones moved on."""
    p = log.position(rng)
    model = _event_at(session, rng.randrange(log.size))
    forged_id = (
        session.scalar(select(AuditEvent.index).order_by(AuditEvent.index.desc())) or 0
    ) + 1
    forged = AuditEvent(
        index=forged_id,
        at=model.at,
        event=rng.choice(NAMES),
        actor_id=model.actor_id,
        agency_id=model.agency_id,
        document_id=model.document_id,
        detail={"forged": True},
    )
    session.add(forged)
    session.flush()
    _shift_from(session, p)
    leaf = leaves.encode(
        p,
        forged_id,
        forged.at,
        forged.event,
        forged.actor_id,
        forged.agency_id,
        forged.document_id,
        forged.detail,
    )
    session.execute(
        insert(LogEntry).values(position=p, event_index=forged_id, leaf_hash=merkle.leaf_hash(leaf))
    )
    return p


def reorder(session: Session, rng: random.Random, log: SmallLog) -> int:
    """Two entries swap places; half the time their leaf hashes are recomputed to match."""
    p, q = sorted(rng.sample(range(log.base, log.size), 2))
    rows = {
        int(pos): (int(ev), bytes(h))
        for pos, ev, h in session.execute(
            select(LogEntry.position, LogEntry.event_index, LogEntry.leaf_hash).where(
                LogEntry.position.in_([p, q])
            )
        )
    }
    recompute = rng.random() < 0.5
    for here, there in ((p, q), (q, p)):
        event_index, digest = rows[there]
        if recompute:
            e = session.get(AuditEvent, event_index)
            assert e is not None
            digest = merkle.leaf_hash(
                leaves.encode(
                    here, e.index, e.at, e.event, e.actor_id, e.agency_id, e.document_id, e.detail
                )
            )
        session.execute(
            update(LogEntry)
            .where(LogEntry.position == here)
            .values(event_index=event_index, leaf_hash=digest)
        )
    return p


def duplicate(session: Session, rng: random.Random, log: SmallLog) -> int:
    """An entry copied (event and leaf hash) to another position, later ones moved on."""
    q = rng.randrange(log.size)
    p = rng.randrange(log.base, log.size + 1)
    event_index, digest = session.execute(
        select(LogEntry.event_index, LogEntry.leaf_hash).where(LogEntry.position == q)
    ).one()
    _shift_from(session, p)
    session.execute(insert(LogEntry).values(position=p, event_index=event_index, leaf_hash=digest))
    return p + 1 if p == q else p


def truncate(session: Session, rng: random.Random, log: SmallLog) -> int:
    """The tail cut off: entries, their events and the subtree hashes that reach into it."""
    t = log.position(rng)
    gone = list(session.scalars(select(LogEntry.event_index).where(LogEntry.position >= t)))
    session.execute(delete(LogEntry).where(LogEntry.position >= t))
    session.execute(delete(AuditEvent).where(AuditEvent.index.in_(gone)))
    for level in range(1, log.size.bit_length() + 1):
        session.execute(delete(TreeNode).where(TreeNode.level == level, TreeNode.idx >= t >> level))
    return t


def rebuild(session: Session, rng: random.Random, log: SmallLog) -> int:
    """An event altered, then the whole tree rebuilt consistently from the events and every
    checkpoint after it re-signed with a new key (the old ones up to it still verify)."""
    k = log.position(rng)
    _alter_event(session, rng, _event_at(session, k))
    order = [
        int(e) for e in session.scalars(select(LogEntry.event_index).order_by(LogEntry.position))
    ]
    session.execute(delete(LogEntry))
    session.execute(delete(TreeNode))
    frontier = merkle.Frontier()
    roots: dict[int, bytes] = {}
    for position, index in enumerate(order):
        e = session.get(AuditEvent, index)
        assert e is not None
        digest = merkle.leaf_hash(
            leaves.encode(
                position, index, e.at, e.event, e.actor_id, e.agency_id, e.document_id, e.detail
            )
        )
        session.execute(
            insert(LogEntry).values(position=position, event_index=index, leaf_hash=digest)
        )
        for level, idx, h in frontier.append(digest):
            session.execute(insert(TreeNode).values(level=level, idx=idx, hash=h))
        roots[frontier.size] = frontier.root()
    forger = notes.EcdsaSigner(ORIGIN, ec.generate_private_key(ec.SECP256R1()))
    sizes = list(session.scalars(select(Checkpoint.tree_size).where(Checkpoint.tree_size > k)))
    session.execute(delete(Cosignature).where(Cosignature.tree_size > k))
    session.execute(delete(Checkpoint).where(Checkpoint.tree_size > k))
    for size in sizes:
        head = checkpoints.TreeHead(ORIGIN, size, roots[size])
        session.add(
            Checkpoint(
                tree_size=size,
                root_hash=head.root,
                note=checkpoints.sign(forger, head),
                created_at=datetime.now(UTC),
            )
        )
    session.flush()
    return k


MUTATIONS: dict[str, Callable[[Session, random.Random, SmallLog], int]] = {
    "change_event": change_event,
    "change_leaf_hash": change_leaf_hash,
    "change_tree_node": change_tree_node,
    "delete_entry": delete_entry,
    "delete_event": delete_event,
    "delete_tree_node": delete_tree_node,
    "insert_event": insert_event,
    "reorder": reorder,
    "duplicate": duplicate,
    "truncate": truncate,
    "rebuild": rebuild,
}
