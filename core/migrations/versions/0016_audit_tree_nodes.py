"""Audit trail: the interior nodes of the log's Merkle tree, kept as appends complete them.

A proof or a tree head then reads O(log n) stored hashes instead of rehashing every leaf
(RFC 9162 §2.1.1, §2.1.3, §2.1.4). Append-only, like the entries. A log that has entries
already gets its nodes from :meth:`core.audit.trail.AuditTrail.build_nodes` (run by
``govtrust serve`` at start, and by the first append or checkpoint that finds them missing);
until then proofs are computed from the leaves, as before.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.migrations.append_only import refuse_changes

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_tree_nodes",
        sa.Column("last_leaf", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("level", sa.SmallInteger(), nullable=False, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("last_leaf", "level", name="pk_audit_tree_nodes"),
    )
    refuse_changes("audit_tree_nodes")


def downgrade() -> None:
    op.drop_table("audit_tree_nodes")
