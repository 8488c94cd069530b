"""Electronic licences: types, versions, history, physical prints, counters.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "licence_types",
        sa.Column("code", sa.String(21), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("defining_authority_name", sa.String(200), nullable=False),
        sa.Column("defining_authority_uscc", sa.String(18), nullable=False),
        sa.Column("issuing_level", sa.String(16), nullable=False),
        sa.Column("fields_schema", sa.JSON(), nullable=False),
        sa.Column("validity_years", sa.Integer(), nullable=True),
        sa.Column("holder_kind", sa.String(16), nullable=False),
        sa.Column("seal_id", sa.String(32), nullable=True),
        sa.Column("layout", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_licence_types"),
    )
    op.create_table(
        "licences",
        sa.Column("identifier", sa.String(128), nullable=False),
        sa.Column("licence_number", sa.String(64), nullable=False),
        sa.Column("type_code", sa.String(21), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("issuer_uscc", sa.String(18), nullable=False),
        sa.Column("issuer_name", sa.String(200), nullable=False),
        sa.Column("holder_name", sa.String(200), nullable=False),
        sa.Column("holder_code_type", sa.String(3), nullable=False),
        sa.Column("holder_code_index", sa.String(64), nullable=False),
        sa.Column("holder_code_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("holder_code", sa.String(18), nullable=True),
        sa.Column("holder_code_masked", sa.String(18), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("supersedes", sa.String(128), nullable=True),
        sa.Column("superseded_by", sa.String(128), nullable=True),
        sa.Column("status_list_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("state_changed_at", TS, nullable=False),
        sa.Column("state_reason", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("identifier", name="pk_licences"),
        sa.ForeignKeyConstraint(
            ["type_code"], ["licence_types.code"], name="fk_licences_type_code_licence_types"
        ),
        sa.ForeignKeyConstraint(
            ["supersedes"], ["licences.identifier"], name="fk_licences_supersedes_licences"
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by"], ["licences.identifier"], name="fk_licences_superseded_by_licences"
        ),
        sa.UniqueConstraint(
            "type_code", "issuer_uscc", "licence_number", "version", name="uq_licences_number"
        ),
        sa.UniqueConstraint("status_list_index", name="uq_licences_status_list_index"),
    )
    op.create_index("ix_licences_licence_number", "licences", ["licence_number"])
    op.create_index("ix_licences_holder_code_index", "licences", ["holder_code_index"])
    op.create_index("ix_licences_chain", "licences", ["type_code", "issuer_uscc", "serial"])
    op.create_table(
        "licence_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("identifier", sa.String(128), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_licence_events"),
        sa.ForeignKeyConstraint(
            ["identifier"], ["licences.identifier"], name="fk_licence_events_identifier_licences"
        ),
    )
    op.create_index("ix_licence_events_identifier", "licence_events", ["identifier"])
    op.create_table(
        "licence_prints",
        sa.Column("print_serial", sa.String(32), nullable=False),
        sa.Column("identifier", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("printed_at", TS, nullable=False),
        sa.Column("printed_by", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reported_at", TS, nullable=True),
        sa.Column("reported_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("print_serial", name="pk_licence_prints"),
        sa.ForeignKeyConstraint(
            ["identifier"], ["licences.identifier"], name="fk_licence_prints_identifier_licences"
        ),
    )
    op.create_index("ix_licence_prints_identifier", "licence_prints", ["identifier"])
    op.create_table(
        "licence_counters",
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_licence_counters"),
    )


def downgrade() -> None:
    op.drop_table("licence_counters")
    op.drop_table("licence_prints")
    op.drop_table("licence_events")
    op.drop_table("licences")
    op.drop_table("licence_types")
