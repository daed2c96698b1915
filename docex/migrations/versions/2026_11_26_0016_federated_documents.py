"""federated documents: what a document that crossed nodes keeps of its journey; where each
remote delivery stands

``federation_documents``: per document that left or reached this node through federation, its
origin node, the origin node's signature over the document (a JWS, kept so that a relay forwards
it unchanged) and the trace of hops so far. ``deliveries.node_id`` (the node the delivery was
routed to) and ``deliveries.waiting_for`` (the next hop a transfer waits for, or null).
``documents.sender_principal_id`` becomes nullable: a document received from another node was
sent by a principal of that node.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import docex.db

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federation_documents",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("origin_node", sa.String(length=64), nullable=False),
        sa.Column("origin_signature", sa.Text(), nullable=False),
        sa.Column("trace", sa.JSON(), nullable=False),
        sa.Column("received_from", sa.String(length=64), nullable=True),
        sa.Column("created_at", docex.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_federation_documents_document_id_documents"),
        ),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_federation_documents")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("node_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("waiting_for", sa.String(length=64), nullable=True))
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.alter_column("sender_principal_id", existing_type=sa.String(36), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.alter_column("sender_principal_id", existing_type=sa.String(36), nullable=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("waiting_for")
        batch_op.drop_column("node_id")
    op.drop_table("federation_documents")
