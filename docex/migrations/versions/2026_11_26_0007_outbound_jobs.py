"""one outbound queue: the jobs table; deliveries lose their own lease columns

Every delivery still queued gets its job (kind ``delivery``), due now. The delivery keeps its
transport state, attempts and last error; the queue mechanics (due time, lease) move to its job.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import docex.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("lease_until", docex.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("queued_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "ref"),
    )
    op.create_index("ix_jobs_due", "jobs", ["kind", "state", "priority", "due_at"])
    op.create_index("ix_jobs_owner", "jobs", ["lease_owner"])
    # The delivery's id doubles as its job's: unique, and no uuid function needed in SQL.
    op.execute(
        "INSERT INTO jobs (id, kind, ref, state, priority, attempts, due_at, lease_owner,"
        " lease_token, lease_until, last_error, queued_at, updated_at)"
        " SELECT id, 'delivery', id, 'queued', priority, attempts, next_attempt_at, NULL, NULL,"
        " NULL, last_error, created_at, updated_at FROM deliveries WHERE transport = 'queued'"
    )
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    # Plain SQL: both PostgreSQL and SQLite (3.35+) drop an unindexed column in place, where
    # a batch copy of the table would trip over the receipts' foreign keys.
    for column in ("next_attempt_at", "lease_owner", "lease_until"):
        op.execute(f"ALTER TABLE deliveries DROP COLUMN {column}")


def downgrade() -> None:
    op.add_column(
        "deliveries",
        sa.Column("next_attempt_at", docex.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column("deliveries", sa.Column("lease_owner", sa.String(length=64), nullable=True))
    op.add_column(
        "deliveries",
        sa.Column("lease_until", docex.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.execute(
        "UPDATE deliveries SET next_attempt_at = COALESCE((SELECT due_at FROM jobs"
        " WHERE jobs.kind = 'delivery' AND jobs.ref = deliveries.id), updated_at)"
    )
    op.create_index("ix_deliveries_due", "deliveries", ["transport", "priority", "next_attempt_at"])
    op.drop_index("ix_jobs_owner", table_name="jobs")
    op.drop_index("ix_jobs_due", table_name="jobs")
    op.drop_table("jobs")
