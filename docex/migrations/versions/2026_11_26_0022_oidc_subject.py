"""principals.oidc_subject: the identifier an OpenID provider vouches for, linking a person

Single sign-on (docex/auth/oidc.py) opens only the account an admin linked here; unique, so one
identifier is never two people.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-26 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("principals") as batch:
        batch.add_column(sa.Column("oidc_subject", sa.String(length=200), nullable=True))
        batch.create_unique_constraint("uq_principals_oidc_subject", ["oidc_subject"])


def downgrade() -> None:
    with op.batch_alter_table("principals") as batch:
        batch.drop_constraint("uq_principals_oidc_subject", type_="unique")
        batch.drop_column("oidc_subject")
