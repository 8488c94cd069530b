"""Bulk import of existing licences and consented sharing of licences (授权用证).

- ``licence_imports``: one row per licence brought in from a CSV file, keyed by type,
  issuing authority and the source key of the row (the legacy licence number, or a keyed
  hash of the row's content when the legacy licence has none), so that importing the same
  file again creates nothing new.
- ``licence_accesses``: every read of a holder's licences by a third party (with the
  holder's consent) or by a department system (for its legal duties), with its purpose.
- ``oauth_consents.purpose`` and ``oauth_grants.purpose``: the purpose a client stated in
  its authorization request (the ``purpose`` parameter), shown on the consent page and kept
  with the consent and with the grant its tokens come from.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "licence_imports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("type_code", sa.String(21), nullable=False),
        sa.Column("issuer_uscc", sa.String(18), nullable=False),
        sa.Column("source_key", sa.String(80), nullable=False),
        sa.Column("identifier", sa.String(128), nullable=False),
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("imported_by", sa.String(128), nullable=False),
        sa.Column("imported_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_licence_imports"),
        sa.ForeignKeyConstraint(
            ["identifier"], ["licences.identifier"], name="fk_licence_imports_identifier_licences"
        ),
        sa.UniqueConstraint(
            "type_code", "issuer_uscc", "source_key", name="uq_licence_imports_source"
        ),
    )
    op.create_index("ix_licence_imports_batch_id", "licence_imports", ["batch_id"])
    op.create_table(
        "licence_accesses",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("client_name", sa.String(200), nullable=False),
        sa.Column("type_code", sa.String(21), nullable=False),
        sa.Column("holder_code_index", sa.String(64), nullable=False),
        sa.Column("holder_code_masked", sa.String(18), nullable=True),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("grant_id", sa.String(32), nullable=True),
        sa.Column("consenting_person_id", sa.String(32), nullable=True),
        sa.Column("licences", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_licence_accesses"),
    )
    op.create_index("ix_licence_accesses_holder", "licence_accesses", ["holder_code_index", "at"])
    op.create_index("ix_licence_accesses_client_id", "licence_accesses", ["client_id"])
    with op.batch_alter_table("oauth_consents") as batch:
        batch.add_column(sa.Column("purpose", sa.String(200), nullable=True))
    with op.batch_alter_table("oauth_grants") as batch:
        batch.add_column(sa.Column("purpose", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_grants") as batch:
        batch.drop_column("purpose")
    with op.batch_alter_table("oauth_consents") as batch:
        batch.drop_column("purpose")
    op.drop_index("ix_licence_accesses_client_id", table_name="licence_accesses")
    op.drop_index("ix_licence_accesses_holder", table_name="licence_accesses")
    op.drop_table("licence_accesses")
    op.drop_index("ix_licence_imports_batch_id", table_name="licence_imports")
    op.drop_table("licence_imports")
