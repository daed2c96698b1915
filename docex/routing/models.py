from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from docex.db import Base, UTCDateTime


class Receipt(Base):
    """A business status, signed by the node that recorded it (JWS compact serialization)."""

    __tablename__ = "receipts"
    # One receipt per delivery, agency and Idempotency-Key (NULLs are distinct on both
    # databases); an index, not a constraint, so that SQLite adds it without copying the table.
    __table_args__ = (
        Index(
            "ix_receipts_idempotency",
            "delivery_id",
            "from_agency_id",
            "idempotency_key",
            unique=True,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    code: Mapped[str] = mapped_column(String(2))
    from_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    to_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    principal_id: Mapped[str | None] = mapped_column(ForeignKey("principals.id"))
    note: Mapped[str | None] = mapped_column(String(2000))
    incoming_number: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signed: Mapped[str] = mapped_column(Text)
    # The client's Idempotency-Key of the status post that made it, and the SHA-256 of that
    # post's body: the same key with another body is a conflict, not a replay.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_sha256: Mapped[str | None] = mapped_column(String(64))


class RegistryCounter(Base):
    """Decree 30 numbering: sequential per agency, per book, per year, from 1 on 1 January."""

    __tablename__ = "registry_counters"

    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    book: Mapped[str] = mapped_column(String(16), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
