from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
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
