"""Counter and hotline (OpenID Connect CIBA), and per-client PAR / token-exchange policy.

- ``ciba_requests``: backchannel authentication requests (CIBA Core 1.0 §7), keyed by the
  keyed hash of ``auth_req_id`` (never stored in clear).
- ``oauth_clients``: ``require_pushed_authorization_requests`` (RFC 9126 §6),
  ``exchange_targets`` (JSON list of the audiences a client may exchange tokens for,
  RFC 8693 §2.1; NULL: not restricted), ``backchannel_token_delivery_mode`` and
  ``backchannel_client_notification_endpoint`` (CIBA Core §4).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.add_column(
            sa.Column(
                "require_pushed_authorization_requests",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch.add_column(sa.Column("exchange_targets", sa.Text(), nullable=True))
        batch.add_column(sa.Column("backchannel_token_delivery_mode", sa.String(8), nullable=True))
        batch.add_column(
            sa.Column("backchannel_client_notification_endpoint", sa.Text(), nullable=True)
        )
    op.create_table(
        "ciba_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("auth_req_hash", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "client_id", sa.String(64), sa.ForeignKey("oauth_clients.client_id"), nullable=False
        ),
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("binding_message", sa.String(64), nullable=True),
        sa.Column("staff_id", sa.String(64), nullable=True),
        sa.Column("delivery_mode", sa.String(8), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("last_polled_at", TS, nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("approved", sa.Boolean(), nullable=True),
        sa.Column("grant_id", sa.String(32), nullable=True),
        sa.Column("consumed_at", TS, nullable=True),
    )
    op.create_index("ix_ciba_requests_person_id", "ciba_requests", ["person_id"])
    op.create_index("ix_ciba_requests_client_id", "ciba_requests", ["client_id"])


def downgrade() -> None:
    op.drop_index("ix_ciba_requests_client_id", table_name="ciba_requests")
    op.drop_index("ix_ciba_requests_person_id", table_name="ciba_requests")
    op.drop_table("ciba_requests")
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("backchannel_client_notification_endpoint")
        batch.drop_column("backchannel_token_delivery_mode")
        batch.drop_column("exchange_targets")
        batch.drop_column("require_pushed_authorization_requests")
