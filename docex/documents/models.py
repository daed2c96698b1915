from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docex.db import Base, UTCDateTime


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("sender_id", "message_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200))
    business_id: Mapped[str] = mapped_column(String(300))
    sender_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    # Null for a document received from another node: its sender is a principal of that node.
    sender_principal_id: Mapped[str | None] = mapped_column(ForeignKey("principals.id"))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(1000))
    urgency: Mapped[str] = mapped_column(String(16))
    classification: Mapped[str] = mapped_column(String(16))
    # The frozen PAdES validation report of the main file, as checked on intake.
    signatures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    files: Mapped[list[DocumentFile]] = relationship(
        order_by="DocumentFile.position", lazy="selectin"
    )


class DocumentFile(Base):
    __tablename__ = "document_files"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # main | attachment
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))  # sanitized, metadata only
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # of the plaintext, checked on every read
    blob_key: Mapped[str] = mapped_column(String(100), unique=True)
    stored_size: Mapped[int] = mapped_column(BigInteger)  # of the encrypted blob
    # The data key wrapped by the node KEK: normal documents only. Classified ones have only
    # per-agency wraps (FileKeyWrap), so the node's KEK alone cannot read them.
    kek_version: Mapped[int | None] = mapped_column(Integer)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)

    key_wraps: Mapped[list[FileKeyWrap]] = relationship(lazy="raise")


class FileKeyWrap(Base):
    """The data key of a classified file, wrapped (HPKE) for one party agency's public key."""

    __tablename__ = "file_key_wraps"

    file_id: Mapped[str] = mapped_column(ForeignKey("document_files.id"), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)


class Delivery(Base):
    """One recipient of one document: where the bytes stand (transport) and what the recipient
    said about them (status). The two never mix: transport is ours, status is the recipient's."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("document_id", "recipient_id"),
        Index("ix_deliveries_inbox", "recipient_id", "delivered_at"),
        # The lines an agency has not answered yet (the flash ones go on top of its inbox).
        Index("ix_deliveries_waiting", "recipient_id", "status", "delivered_at"),
        # The overdue sweep: deliveries not yet marked (NULL first) whose due time has passed.
        Index("ix_deliveries_overdue", "overdue_at", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    recipient_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    addressed_as: Mapped[str] = mapped_column(String(100))  # what the sender wrote
    transport: Mapped[str] = mapped_column(String(16))  # queued | delivered | failed
    status: Mapped[str | None] = mapped_column(String(2))
    priority: Mapped[int] = mapped_column(Integer)  # higher goes first (its job's priority)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # as its job last reported
    last_error: Mapped[str | None] = mapped_column(String(500))  # why it waits or failed
    # The recipient's node, once routed (this node for a local delivery), and the next hop a
    # transfer carrying it waits for while that peer cannot be reached (docex.federation).
    node_id: Mapped[str | None] = mapped_column(String(64))
    waiting_for: Mapped[str | None] = mapped_column(String(64))
    flag: Mapped[str | None] = mapped_column(String(64))  # e.g. stored_file_corrupt
    incoming_number: Mapped[str | None] = mapped_column(String(50))
    # What became of the document for this recipient once it accepted a recall, update or
    # replacement (docex.routing.supersession): recalled | updated | replaced, or null. The
    # access policy reads it (a recalled file is 410 to the recipient), so it lives on the row.
    business_state: Mapped[str | None] = mapped_column(String(16))
    # The document that updated or replaced this one (or revoked it); null for a recall by 13.
    # No foreign key: a second one to documents would make the ``document`` relationship
    # ambiguous, and the id is written only by the service that read that document.
    superseded_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The legal receipt rule (routing/deadlines.py): answer (02/03) by ``due_at``, set on 01;
    # ``overdue_at`` when the sweep found it unanswered past it, kept once answered late.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Never loaded (rows are read by query); it tells the unit of work that a document is
    # inserted before its deliveries, whatever the class names sort as.
    document: Mapped[Document] = relationship(lazy="raise")


class Draft(Base):
    """A document being prepared by an agency (docex.documents.drafts): its files wait here
    between the clerk who uploads them, the leader who signs and the clerk who seals."""

    __tablename__ = "drafts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    created_by: Mapped[str] = mapped_column(ForeignKey("principals.id"))
    # Fixed at upload: it decides how the files are protected (as a document's would be).
    classification: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))  # uploaded | signed | sealed | sent
    # The envelope as last saved (validated by the intake's rules), or {} before.
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The signature check of the main file after the last signature, or {} before any.
    signatures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    document_id: Mapped[str | None] = mapped_column(String(36))  # once sent
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    files: Mapped[list[DraftFile]] = relationship(
        order_by="DraftFile.position", lazy="selectin", cascade="all, delete-orphan"
    )


class DraftFile(Base):
    """A draft's file, encrypted in the blob store exactly as a document's file is: a normal
    draft's data key wrapped by the node's KEK, a classified one's for its agency's key only."""

    __tablename__ = "draft_files"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    draft_id: Mapped[str] = mapped_column(ForeignKey("drafts.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # main | attachment
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(100), unique=True)
    stored_size: Mapped[int] = mapped_column(BigInteger)
    kek_version: Mapped[int | None] = mapped_column(Integer)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    agency_wrap: Mapped[bytes | None] = mapped_column(LargeBinary)


class DocumentRead(Base):
    """That a person has opened a document (or acted on it): the inbox's unread state is per
    person, not per agency: one clerk's reading does not mark it read for her colleague."""

    __tablename__ = "document_reads"

    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime())
