from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from docex.db import Base, UTCDateTime


class AuditEvent(Base):
    """Rows are only ever inserted. ``index`` is the log position the Merkle log will hash."""

    __tablename__ = "audit_events"
    __table_args__ = ({"sqlite_autoincrement": True},)  # never reuse an index, even after a crash

    index: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    event: Mapped[str] = mapped_column(String(64))  # source:subject:action
    actor_id: Mapped[str | None] = mapped_column(String(36))
    agency_id: Mapped[str | None] = mapped_column(String(32), index=True)
    document_id: Mapped[str | None] = mapped_column(String(36), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
