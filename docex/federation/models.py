from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from docex.db import Base, UTCDateTime


class FederationNode(Base):
    """A node of the network as the directory last described it (this node included)."""

    __tablename__ = "federation_nodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the node id
    base_url: Mapped[str] = mapped_column(String(500))  # where /federation/v1 answers
    # The node this one sends through what it cannot reach itself (a province: the hub);
    # None at the top of the tree.
    upstream: Mapped[str | None] = mapped_column(String(64))
    # PEM public key of the node's signing key: transfers (RFC 9421), envelopes, receipts.
    signing_key: Mapped[str] = mapped_column(Text)
    # PEM certificates: the node's certificate chain (TLS and the signing key's), if any.
    certificates: Mapped[str | None] = mapped_column(Text)
    # The node's audit log verifier key (c2sp signed-note form), checked by witnesses.
    audit_key: Mapped[str | None] = mapped_column(Text)
    directory_version: Mapped[int] = mapped_column(Integer)  # the version that wrote this row
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Transfer(Base):
    """One transfer to a peer node (the next hop): a document for some recipients, or a
    status travelling back. Its manifest and body digest are fixed when it is first sent, so
    every retry sends the same bytes; its job (kind ``transfer``, ref = id) moves it."""

    __tablename__ = "federation_transfers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the transfer id, global
    kind: Mapped[str] = mapped_column(String(16))  # document | status (docex.federation.kinds)
    peer: Mapped[str] = mapped_column(String(64), index=True)  # the next hop
    # What it carries: the document (for both kinds); the kind's manifest (JSON text, the
    # exact bytes sent).
    document_id: Mapped[str | None] = mapped_column(String(36), index=True)
    manifest: Mapped[str] = mapped_column(Text)
    # RFC 9530 Content-Digest of the body, computed once (first attempt) and sent on every one.
    digest: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))  # queued | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    receipt: Mapped[str | None] = mapped_column(Text)  # the peer's signed transport receipt
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InboundTransfer(Base):
    """A transfer this node accepted, by id: a replay of it (same digest) is answered with the
    same receipt and stores nothing; the same id with another digest is refused."""

    __tablename__ = "federation_inbound"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the transfer id
    kind: Mapped[str] = mapped_column(String(16))
    from_node: Mapped[str] = mapped_column(String(64))  # the peer that sent it (signed)
    digest: Mapped[str] = mapped_column(String(200))
    document_id: Mapped[str | None] = mapped_column(String(36), index=True)
    receipt: Mapped[str] = mapped_column(Text)  # the signed transport receipt we answered
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WitnessState(Base):
    """What this node, as a witness, remembers of a peer's audit log: the log key it pinned and
    the last checkpoint it cosigned (``docex.federation.witnessing``); a fork it saw stops
    cosigning that peer until an operator clears it."""

    __tablename__ = "federation_witness"

    peer: Mapped[str] = mapped_column(String(64), primary_key=True)
    origin: Mapped[str] = mapped_column(String(255))
    log_key: Mapped[str] = mapped_column(Text)  # vkey pinned
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[str] = mapped_column(String(64))  # base64
    checkpoint: Mapped[str] = mapped_column(Text)  # the note text cosigned
    signed: Mapped[str | None] = mapped_column(Text)  # that note with the log's signature
    timestamp: Mapped[int] = mapped_column(BigInteger)  # of our cosignature
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    fork_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fork_reason: Mapped[str | None] = mapped_column(Text)


class DirectoryVersion(Base):
    """A version of the signed directory this node published (the hub) or fetched and applied
    (every other node): the exact signed text, kept for history; the highest is the current
    one, the last good one while the hub is down."""

    __tablename__ = "directory_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    network: Mapped[str] = mapped_column(String(64))
    publisher: Mapped[str] = mapped_column(String(64))  # the node that signed it
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())  # as the document says
    # When this node stored it: published here, or fetched, verified and applied.
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(16))  # published | fetched
    document: Mapped[str] = mapped_column(Text)  # the JWS (compact serialization), as signed


class FederationDocument(Base):
    """What a document that crossed nodes keeps of its journey (docex.federation.documents):
    the origin node's signature over it, forwarded unchanged by every relay, and the trace of
    hops so far (edXML TraceHeader: one entry per node, ``{"node", "at"}``)."""

    __tablename__ = "federation_documents"

    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    origin_node: Mapped[str] = mapped_column(String(64))
    origin_signature: Mapped[str] = mapped_column(Text)  # JWS (typ docex-document+jws)
    trace: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    received_from: Mapped[str | None] = mapped_column(String(64))  # None on the origin node
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
