"""The ``licence_types`` table: the licence types the registry issues (GB/T 36904 type codes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from certs.types import HolderKind, IssuingLevel, LicenceType
from core.db.base import Base
from core.db.types import UtcDateTime


class LicenceTypeRow(Base):
    __tablename__ = "licence_types"

    code: Mapped[str] = mapped_column(String(21), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    defining_authority_name: Mapped[str] = mapped_column(String(200))
    defining_authority_uscc: Mapped[str] = mapped_column(String(18))
    issuing_level: Mapped[str] = mapped_column(String(16))
    fields_schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    validity_years: Mapped[int | None] = mapped_column(Integer, nullable=True)
    holder_kind: Mapped[str] = mapped_column(String(16))
    seal_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    layout: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    @classmethod
    def from_type(cls, licence_type: LicenceType, created_at: datetime) -> LicenceTypeRow:
        t = licence_type
        return cls(
            code=t.code,
            name=t.name,
            defining_authority_name=t.defining_authority_name,
            defining_authority_uscc=t.defining_authority_uscc,
            issuing_level=t.issuing_level,
            fields_schema=t.fields_schema,
            validity_years=t.validity_years,
            holder_kind=t.holder_kind,
            seal_id=t.seal_id,
            layout=t.layout,
            created_at=created_at,
        )

    def to_type(self) -> LicenceType:
        holder_kind: HolderKind = "person" if self.holder_kind == "person" else "organisation"
        level: IssuingLevel = self.issuing_level  # type: ignore[assignment]
        return LicenceType(
            code=self.code,
            name=self.name,
            defining_authority_name=self.defining_authority_name,
            defining_authority_uscc=self.defining_authority_uscc,
            issuing_level=level,
            fields_schema=dict(self.fields_schema),
            validity_years=self.validity_years,
            holder_kind=holder_kind,
            seal_id=self.seal_id,
            layout=self.layout,
        )


class SqlLicenceTypeStore:
    def type_row(self, session: Session, code: str) -> LicenceTypeRow | None:
        return session.get(LicenceTypeRow, code)

    def types(self, session: Session) -> list[LicenceType]:
        query = select(LicenceTypeRow).order_by(LicenceTypeRow.code)
        return [row.to_type() for row in session.scalars(query)]
