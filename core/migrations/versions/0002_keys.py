"""Key registry and issued certificates.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "keys",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("key_type", sa.String(16), nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("reference", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=True),
        sa.Column("issuer_kid", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("publish_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name="pk_keys"),
    )
    op.create_index("ix_keys_purpose_state", "keys", ["purpose", "state"])
    op.create_table(
        "issued_certificates",
        sa.Column("issuer_kid", sa.String(64), nullable=False),
        sa.Column("serial", sa.String(48), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("subject_kid", sa.String(64), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("issuer_kid", "serial", name="pk_issued_certificates"),
    )


def downgrade() -> None:
    op.drop_table("issued_certificates")
    op.drop_index("ix_keys_purpose_state", table_name="keys")
    op.drop_table("keys")
