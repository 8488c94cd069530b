"""Licence prints get their own entry in the licence status list, so that an offline
verifier learns that a paper copy was reported lost or destroyed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("licence_prints") as batch:
        batch.add_column(sa.Column("status_list_index", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_licence_prints_status_list_index",
        "licence_prints",
        ["status_list_index"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_licence_prints_status_list_index", table_name="licence_prints")
    with op.batch_alter_table("licence_prints") as batch:
        batch.drop_column("status_list_index")
