"""federation transfers: outbound transfers to peer nodes and the inbound dedup record
(issue 13)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 06:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import docex.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federation_transfers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("peer", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=True),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("receipt", sa.Text(), nullable=True),
        sa.Column("created_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", docex.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_transfers")),
    )
    op.create_index(
        op.f("ix_federation_transfers_peer"), "federation_transfers", ["peer"], unique=False
    )
    op.create_index(
        op.f("ix_federation_transfers_document_id"),
        "federation_transfers",
        ["document_id"],
        unique=False,
    )
    op.create_table(
        "federation_inbound",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_node", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=200), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=True),
        sa.Column("receipt", sa.Text(), nullable=False),
        sa.Column("received_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_inbound")),
    )
    op.create_index(
        op.f("ix_federation_inbound_document_id"),
        "federation_inbound",
        ["document_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("federation_inbound")
    op.drop_table("federation_transfers")
