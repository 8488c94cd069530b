"""Audit trail: append-only entries and signed checkpoints.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.migrations.append_only import refuse_changes

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_entries", "audit_checkpoints")


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("idx", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("object_type", sa.String(50), nullable=False),
        sa.Column("object_id", sa.String(200), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("idx", name="pk_audit_entries"),
    )
    op.create_index("ix_audit_entries_actor", "audit_entries", ["actor"])
    op.create_index("ix_audit_entries_action", "audit_entries", ["action"])
    op.create_index("ix_audit_entries_object", "audit_entries", ["object_type", "object_id"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name="pk_audit_checkpoints"),
    )
    for table in APPEND_ONLY:
        refuse_changes(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS govtrust_refuse_change()")
