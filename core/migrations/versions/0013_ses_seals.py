"""GB/T 38540-2020 seals for OFD licences (``ses_seals``, :mod:`certs.ofd.seals`).

One row per seal of the seal registry that has sealed an OFD file: the SM2 key (``sm2-seal``,
签章人) made for it, the seal maker's key that signed the ``SES_Seal``, the seal's ``esID``,
the DER ``SES_Seal`` itself and the end of its validity.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ses_seals",
        sa.Column("seal_id", sa.String(32), nullable=False),
        sa.Column("key_kid", sa.String(64), nullable=False),
        sa.Column("maker_kid", sa.String(64), nullable=False),
        sa.Column("es_id", sa.String(64), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("valid_until", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("seal_id", name="pk_ses_seals"),
        sa.ForeignKeyConstraint(["seal_id"], ["seals.id"], name="fk_ses_seals_seal_id_seals"),
        sa.ForeignKeyConstraint(["key_kid"], ["keys.kid"], name="fk_ses_seals_key_kid_keys"),
    )


def downgrade() -> None:
    op.drop_table("ses_seals")
