"""federation nodes: the nodes of the network as the directory describes them (issue 13)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 06:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import docex.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federation_nodes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("upstream", sa.String(length=64), nullable=True),
        sa.Column("signing_key", sa.Text(), nullable=False),
        sa.Column("certificates", sa.Text(), nullable=True),
        sa.Column("audit_key", sa.Text(), nullable=True),
        sa.Column("directory_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_nodes")),
    )


def downgrade() -> None:
    op.drop_table("federation_nodes")
