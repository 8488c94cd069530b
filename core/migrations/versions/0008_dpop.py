"""DPoP key binding of refresh and access tokens (RFC 9449 §6).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("oauth_refresh_tokens", "oauth_access_tokens"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("dpop_jkt", sa.String(64), nullable=True))


def downgrade() -> None:
    for table in ("oauth_refresh_tokens", "oauth_access_tokens"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("dpop_jkt")
