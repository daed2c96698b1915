"""agency search key: a case- and accent-folded copy of code and name, the same on every database

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 14:53:25.481127
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from docex.kit.text import fold

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("search_key", sa.String(length=400), nullable=False, server_default="")
        )
    agencies = sa.table(
        "agencies",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("search_key", sa.String),
    )
    bind = op.get_bind()
    for agency_id, name in bind.execute(sa.select(agencies.c.id, agencies.c.name)).all():
        bind.execute(
            agencies.update()
            .where(agencies.c.id == agency_id)
            .values(search_key=fold(f"{agency_id} {name}"))
        )


def downgrade() -> None:
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.drop_column("search_key")
