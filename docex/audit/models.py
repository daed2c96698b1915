"""The audit tables. All but ``audit_pending`` only ever grow: on PostgreSQL and SQLite a trigger
refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) on them (migrations 0001 and 0005).

- ``audit_events``: what happened, one row per event, written in the caller's transaction.
- ``audit_pending``: a work queue, one row per event not yet in the log, written with it; the
  integrator deletes the rows it has integrated (``docex.audit.sequencer``).
- ``audit_log``: the log proper, a dense sequence of positions, each naming one event and the
  hash of its leaf (``docex.audit.leaves``).
- ``audit_tree``: the hash of every complete subtree above the leaves (level >= 1), so that a
  root or a proof needs O(log n) reads (``docex.audit.tree``).
- ``audit_checkpoints``: signed tree heads (C2SP tlog-checkpoint), one per tree size.
- ``audit_cosignatures``: witnesses' cosignatures (C2SP tlog-cosignature) of those heads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docex.db import Base, UTCDateTime

_BIGINT = BigInteger().with_variant(Integer, "sqlite")


class AuditEvent(Base):
    """Rows are only ever inserted. ``index`` is the event's id; its log position is in
    ``audit_log`` (the two differ: ids can commit out of order on PostgreSQL)."""

    __tablename__ = "audit_events"
    __table_args__ = ({"sqlite_autoincrement": True},)  # never reuse an index, even after a crash

    index: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    event: Mapped[str] = mapped_column(String(64))  # source:subject:action
    actor_id: Mapped[str | None] = mapped_column(String(36), index=True)
    agency_id: Mapped[str | None] = mapped_column(String(32), index=True)
    document_id: Mapped[str | None] = mapped_column(String(36), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


# The columns a leaf is built from (``docex.audit.leaves.encode_row``), for Core selects.
EVENT_COLUMNS = (
    AuditEvent.index.label("event_id"),  # not "index": Row.index is tuple's method
    AuditEvent.at,
    AuditEvent.event,
    AuditEvent.actor_id,
    AuditEvent.agency_id,
    AuditEvent.document_id,
    AuditEvent.detail,
)


class AuditPending(Base):
    __tablename__ = "audit_pending"

    event_index: Mapped[int] = mapped_column(
        _BIGINT, ForeignKey("audit_events.index"), primary_key=True, autoincrement=False
    )
    event: Mapped[AuditEvent] = relationship()


class LogEntry(Base):
    __tablename__ = "audit_log"

    position: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=False)
    event_index: Mapped[int] = mapped_column(_BIGINT, ForeignKey("audit_events.index"), unique=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class TreeNode(Base):
    """Hash of leaves [idx * 2^level, (idx + 1) * 2^level), level >= 1."""

    __tablename__ = "audit_tree"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class Checkpoint(Base):
    __tablename__ = "audit_checkpoints"

    tree_size: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)  # the signed note, with the log's signature only
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Cosignature(Base):
    __tablename__ = "audit_cosignatures"
    __table_args__ = (
        UniqueConstraint("tree_size", "name", "key_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(
        _BIGINT, ForeignKey("audit_checkpoints.tree_size"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))  # the cosigner's key name
    key_id: Mapped[str] = mapped_column(String(8))  # hex, as in a vkey
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))  # Ed25519
    timestamp: Mapped[int] = mapped_column(BigInteger)  # POSIX seconds, as signed
    line: Mapped[str] = mapped_column(Text)  # "— name base64(key ID || timestamped_signature)"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
