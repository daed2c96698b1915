"""delivery deadlines: when each delivery must be answered, and when it was found overdue

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import docex.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", docex.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("overdue_at", docex.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_deliveries_overdue", ["overdue_at", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_overdue")
        batch_op.drop_column("overdue_at")
        batch_op.drop_column("due_at")
