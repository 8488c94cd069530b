"""The seal registry's tables: seals, their images, and authorisations to use them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db.base import Base
from core.db.types import UtcDateTime
from seal.models import Seal, SealGrant, SealKind, SealStatus


class SealRow(Base):
    __tablename__ = "seals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(32), index=True)
    uscc: Mapped[str] = mapped_column(String(18))
    organisation_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    key_kid: Mapped[str] = mapped_column(String(64))
    image_png: Mapped[bytes] = mapped_column(LargeBinary)
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime())
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime())
    required_acr: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    def to_seal(self) -> Seal:
        return Seal(
            id=self.id,
            organisation_id=self.organisation_id,
            uscc=self.uscc,
            organisation_name=self.organisation_name,
            kind=_kind(self.kind),
            name=self.name,
            status=_status(self.status),
            key_kid=self.key_kid,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            required_acr=self.required_acr,
            created_at=self.created_at,
        )


class SealGrantRow(Base):
    __tablename__ = "seal_grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seal_id: Mapped[str] = mapped_column(ForeignKey("seals.id"))
    person_id: Mapped[str] = mapped_column(String(32))
    granted_by: Mapped[str] = mapped_column(String(32))
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime())
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    __table_args__ = (Index("ix_seal_grants_seal_person", "seal_id", "person_id"),)

    def to_grant(self) -> SealGrant:
        return SealGrant(
            self.id,
            self.seal_id,
            self.person_id,
            self.granted_by,
            self.valid_from,
            self.valid_until,
            self.revoked_at,
        )


def _kind(value: str) -> SealKind:
    if value not in ("official", "approval", "contract", "finance", "invoice", "name"):
        raise ValueError(f"unknown seal kind {value!r}")
    return value  # type: ignore[return-value]


def _status(value: str) -> SealStatus:
    if value not in ("active", "suspended", "revoked"):
        raise ValueError(f"unknown seal status {value!r}")
    return value  # type: ignore[return-value]


class SqlSealStore:
    def seal_row(
        self, session: Session, seal_id: str, *, for_update: bool = False
    ) -> SealRow | None:
        """``for_update``: held until the transaction ends (``FOR UPDATE`` on PostgreSQL; on
        SQLite the write transaction already holds the database)."""
        return session.get(SealRow, seal_id, with_for_update=for_update)

    def seals_of(self, session: Session, organisation_id: str) -> list[Seal]:
        query = (
            select(SealRow)
            .where(SealRow.organisation_id == organisation_id)
            .order_by(SealRow.created_at, SealRow.id)
        )
        return [row.to_seal() for row in session.scalars(query)]

    def grants(
        self, session: Session, seal_id: str, person_id: str | None = None
    ) -> list[SealGrant]:
        query = select(SealGrantRow).where(SealGrantRow.seal_id == seal_id)
        if person_id is not None:
            query = query.where(SealGrantRow.person_id == person_id)
        return [row.to_grant() for row in session.scalars(query.order_by(SealGrantRow.valid_from))]

    def grants_of_person(self, session: Session, person_id: str) -> list[SealGrant]:
        query = select(SealGrantRow).where(SealGrantRow.person_id == person_id)
        return [row.to_grant() for row in session.scalars(query)]
