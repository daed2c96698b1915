"""federation witness: what this node remembers of each peer's audit log it cosigns
(issue 13)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import docex.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federation_witness",
        sa.Column("peer", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("log_key", sa.Text(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("signed", sa.Text(), nullable=True),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fork_at", docex.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fork_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("peer", name=op.f("pk_federation_witness")),
    )


def downgrade() -> None:
    op.drop_table("federation_witness")
