"""Seals and authorisations to use them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "seals",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("organisation_id", sa.String(32), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("organisation_name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("key_kid", sa.String(64), nullable=False),
        sa.Column("image_png", sa.LargeBinary(), nullable=False),
        sa.Column("valid_from", TS, nullable=False),
        sa.Column("valid_until", TS, nullable=False),
        sa.Column("required_acr", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("status_changed_at", TS, nullable=True),
    )
    op.create_index("ix_seals_organisation_id", "seals", ["organisation_id"])
    op.create_table(
        "seal_grants",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("seal_id", sa.String(32), sa.ForeignKey("seals.id"), nullable=False),
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("granted_by", sa.String(32), nullable=False),
        sa.Column("valid_from", TS, nullable=False),
        sa.Column("valid_until", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_index("ix_seal_grants_seal_person", "seal_grants", ["seal_id", "person_id"])


def downgrade() -> None:
    op.drop_table("seal_grants")
    op.drop_table("seals")
