"""web sessions: people signed in to the web UI

``web_sessions``: the SHA-256 of the cookie's secret, whose session it is, when it was opened,
last used, when it ends at the latest, and when it was closed (signed out or expired).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import docex.db

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", docex.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_web_sessions_principal_id_principals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_web_sessions_secret_hash")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_web_sessions_principal_id"), ["principal_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_web_sessions_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("web_sessions")
