"""document reads: who has opened which document

``document_reads``: one row per person and document, the first time the person opened it (the
document page) or acted on it (a status from the inbox); the inbox shows the others as unread.
``ix_deliveries_waiting``: an agency's deliveries by status, for the flash documents not yet
answered that the inbox shows first.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-26 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import docex.db

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_reads",
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("read_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_document_reads_principal_id_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_reads_document_id_documents"),
        ),
        sa.PrimaryKeyConstraint("principal_id", "document_id", name=op.f("pk_document_reads")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_waiting", ["recipient_id", "status", "delivered_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_waiting")
    op.drop_table("document_reads")
