"""business state: what a recall, update or replacement made of a delivery; status idempotency

``deliveries.business_state`` (recalled | updated | replaced) and ``superseded_by`` (the
document that did it); ``receipts.idempotency_key`` and ``request_sha256`` (the
Idempotency-Key of a status post and the hash of its body), unique per delivery and
agency. Every column
is nullable: existing rows mean "nothing happened" and "no key".

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("business_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("superseded_by", sa.String(length=36), nullable=True))
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("request_sha256", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_receipts_idempotency",
            ["delivery_id", "from_agency_id", "idempotency_key"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_receipts_idempotency")
        batch_op.drop_column("request_sha256")
        batch_op.drop_column("idempotency_key")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("superseded_by")
        batch_op.drop_column("business_state")
