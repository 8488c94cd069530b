"""CRL numbers per CA.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crl_numbers",
        sa.Column("issuer_kid", sa.String(64), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("issuer_kid", name="pk_crl_numbers"),
    )


def downgrade() -> None:
    op.drop_table("crl_numbers")
