"""network statistics: the day rows the hub collects, and what a node's pushes had acknowledged

``stats_collected_days``: per (pushing node, agency, Vietnam day) the figures and the raw
latencies (seconds to 01, to 03) the node hosting the agency sent; upserted, so a replay
changes nothing. ``stats_pushed_days``: per (agency, day) the digest of this node's own row as
the hub last acknowledged it; a push sends only the days whose digest changed.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-26 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import docex.db

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_collected_days",
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("returned", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("signature_refusals", sa.Integer(), nullable=False),
        sa.Column("to_01", sa.JSON(), nullable=False),
        sa.Column("to_03", sa.JSON(), nullable=False),
        sa.Column("updated_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "node_id", "agency_id", "day", name=op.f("pk_stats_collected_days")
        ),
    )
    op.create_table(
        "stats_pushed_days",
        sa.Column("agency_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("acknowledged_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agency_id", "day", name=op.f("pk_stats_pushed_days")),
    )


def downgrade() -> None:
    op.drop_table("stats_pushed_days")
    op.drop_table("stats_collected_days")
