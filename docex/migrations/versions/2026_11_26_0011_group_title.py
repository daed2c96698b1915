"""group title: what a recipient group is called (issue 11, groups managed); the demo's
description is its title until an admin sets one

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 03:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("title", sa.String(length=300), nullable=False, server_default="")
        )
    groups = sa.table("groups", sa.column("title", sa.String), sa.column("description", sa.String))
    op.get_bind().execute(groups.update().values(title=groups.c.description))


def downgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_column("title")
