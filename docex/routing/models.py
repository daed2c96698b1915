from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from docex.db import Base, UTCDateTime


class Delivery(Base):
    """One recipient of one document: where the bytes stand (transport) and what the recipient
    said about them (status). The two never mix: transport is ours, status is the recipient's."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("document_id", "recipient_id"),
        Index("ix_deliveries_due", "transport", "priority", "next_attempt_at"),
        Index("ix_deliveries_inbox", "recipient_id", "delivered_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    recipient_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    addressed_as: Mapped[str] = mapped_column(String(100))  # what the sender wrote
    transport: Mapped[str] = mapped_column(String(16))  # queued | delivered | failed
    status: Mapped[str | None] = mapped_column(String(2))
    priority: Mapped[int] = mapped_column(Integer)  # higher goes first
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    flag: Mapped[str | None] = mapped_column(String(64))  # e.g. stored_file_corrupt
    incoming_number: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Receipt(Base):
    """A business status, signed by the node that recorded it (JWS compact serialization)."""

    __tablename__ = "receipts"

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


class RegistryCounter(Base):
    """Decree 30 numbering: sequential per agency, per book, per year, from 1 on 1 January."""

    __tablename__ = "registry_counters"

    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    book: Mapped[str] = mapped_column(String(16), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
