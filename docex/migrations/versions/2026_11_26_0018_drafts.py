"""drafts: documents being prepared in the web UI's compose screen

``drafts``: the agency's draft, its envelope as saved, its state (uploaded, signed, sealed,
sent) and the signature check of its main file; ``draft_files``: its files, encrypted in the
blob store as documents' files are.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import docex.db

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drafts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("agency_id", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("classification", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("signatures", sa.JSON(), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_drafts_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["principals.id"], name=op.f("fk_drafts_created_by_principals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drafts")),
    )
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drafts_agency_id"), ["agency_id"], unique=False)
    op.create_table(
        "draft_files",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("draft_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("blob_key", sa.String(length=100), nullable=False),
        sa.Column("stored_size", sa.BigInteger(), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("agency_wrap", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["draft_id"], ["drafts.id"], name=op.f("fk_draft_files_draft_id_drafts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draft_files")),
        sa.UniqueConstraint("blob_key", name=op.f("uq_draft_files_blob_key")),
    )
    with op.batch_alter_table("draft_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_draft_files_draft_id"), ["draft_id"], unique=False)


def downgrade() -> None:
    op.drop_table("draft_files")
    op.drop_table("drafts")
