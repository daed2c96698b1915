"""alerts: early warning raised by the rules, and their sends by webhook and e-mail

``alerts``: one row per episode of a rule's condition for a subject; ``ux_alerts_live``: at most
one live (not resolved) alert per key. ``alert_sends``: one row per raised alert and channel,
moved by the outbound queue (job kinds ``alert_webhook`` and ``alert_mail``).

Down revision "0019" until the stats branch (0020) is merged: the lead relinks it to "0020".

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-26 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import docex.db

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=160), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("raised_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", docex.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", docex.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=36), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["principals.id"],
            name=op.f("fk_alerts_acknowledged_by_principals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(
        "ux_alerts_live",
        "alerts",
        ["key"],
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_index("ix_alerts_state", "alerts", ["state", "raised_at"], unique=False)
    op.create_table(
        "alert_sends",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("sent_at", docex.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_sends_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_sends")),
    )
    op.create_index(op.f("ix_alert_sends_alert_id"), "alert_sends", ["alert_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_sends_alert_id"), table_name="alert_sends")
    op.drop_table("alert_sends")
    op.drop_index("ix_alerts_state", table_name="alerts")
    op.drop_index("ux_alerts_live", table_name="alerts")
    op.drop_table("alerts")
