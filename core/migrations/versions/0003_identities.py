"""Identities: persons, organisations, representations, the local real-name registry.

Resident ID numbers and phone numbers are stored only as a blind index, an AES-GCM blob and
a masked form (see ``idp/identities/storage.py``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATUS_CHECK = "status IN ('active', 'disabled')"


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("id_number_index", sa.String(64), nullable=False),
        sa.Column("id_number_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("id_number_masked", sa.String(18), nullable=False),
        sa.Column("phone_index", sa.String(64), nullable=True),
        sa.Column("phone_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("phone_masked", sa.String(11), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
        sa.UniqueConstraint("subject", name=op.f("uq_persons_subject")),
        sa.UniqueConstraint("id_number_index", name=op.f("uq_persons_id_number_index")),
        sa.CheckConstraint(STATUS_CHECK, name=op.f("ck_persons_status")),
    )
    op.create_index(op.f("ix_persons_phone_index"), "persons", ["phone_index"])
    op.create_table(
        "organisations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("uscc", name=op.f("uq_organisations_uscc")),
        sa.CheckConstraint(STATUS_CHECK, name=op.f("ck_organisations_status")),
    )
    op.create_table(
        "representations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("organisation_id", sa.String(32), nullable=False),
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("scopes", sa.String(1000), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("granted_by", sa.String(32), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_representations")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_representations_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_representations_person_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["granted_by"], ["persons.id"], name=op.f("fk_representations_granted_by_persons")
        ),
        sa.CheckConstraint(
            "role IN ('legal_representative', 'agent')", name=op.f("ck_representations_role")
        ),
    )
    op.create_index(
        op.f("ix_representations_organisation_id"), "representations", ["organisation_id"]
    )
    op.create_index(op.f("ix_representations_person_id"), "representations", ["person_id"])
    op.create_table(
        "real_name_registry",
        sa.Column("id_number_index", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_number_index", name=op.f("pk_real_name_registry")),
    )


def downgrade() -> None:
    op.drop_table("real_name_registry")
    op.drop_index(op.f("ix_representations_person_id"), table_name="representations")
    op.drop_index(op.f("ix_representations_organisation_id"), table_name="representations")
    op.drop_table("representations")
    op.drop_table("organisations")
    op.drop_index(op.f("ix_persons_phone_index"), table_name="persons")
    op.drop_table("persons")
