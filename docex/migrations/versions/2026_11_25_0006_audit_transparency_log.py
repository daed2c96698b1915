"""audit transparency log: pending queue, log positions, tree hashes, checkpoints, cosignatures

Every existing event is queued for the integrator, which gives it a log position. Triggers
refuse UPDATE and DELETE on every log table (and TRUNCATE on PostgreSQL, which bypasses row
triggers), as migration 0001 does for audit_events.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import docex.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LOG_TABLES = ("audit_log", "audit_tree", "audit_checkpoints", "audit_cosignatures")


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("event_index", BIGINT, autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_index"],
            ["audit_events.index"],
            name=op.f("fk_audit_pending_event_index_audit_events"),
        ),
        sa.PrimaryKeyConstraint("event_index", name=op.f("pk_audit_pending")),
    )
    op.create_table(
        "audit_log",
        sa.Column("position", BIGINT, autoincrement=False, nullable=False),
        sa.Column("event_index", BIGINT, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_index"],
            ["audit_events.index"],
            name=op.f("fk_audit_log_event_index_audit_events"),
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("event_index", name=op.f("uq_audit_log_event_index")),
    )
    op.create_table(
        "audit_tree",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", BIGINT, autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_tree")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", BIGINT, autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_cosignatures",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("tree_size", BIGINT, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("created_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tree_size"],
            ["audit_checkpoints.tree_size"],
            name=op.f("fk_audit_cosignatures_tree_size_audit_checkpoints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_cosignatures")),
        sa.UniqueConstraint(
            "tree_size",
            "name",
            "key_id",
            name=op.f("uq_audit_cosignatures_tree_size_name_key_id"),
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("audit_cosignatures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_cosignatures_tree_size"), ["tree_size"], unique=False
        )
    # Auditors search by principal and time range (GET /api/v1/audit/search).
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)

    op.execute('INSERT INTO audit_pending (event_index) SELECT "index" FROM audit_events')
    _append_only()


def _append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION docex_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in (*LOG_TABLES, "audit_events"):
            if table != "audit_events":
                op.execute(
                    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION docex_log_append_only()"
                )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION docex_log_append_only()"
            )
        return
    for table in LOG_TABLES:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        for table in LOG_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS docex_log_append_only()")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_at"))
        batch_op.drop_index(batch_op.f("ix_audit_events_actor_id"))
    with op.batch_alter_table("audit_cosignatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_cosignatures_tree_size"))
    op.drop_table("audit_cosignatures")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_tree")
    op.drop_table("audit_log")
    op.drop_table("audit_pending")
