"""The access log of shared licences (``licence_accesses``): append-only, one row per read
of a holder's licences by a third party (``basis`` ``consent``) or by a department system
(``basis`` ``legal_duty``).

The holder is kept as the blind index of the holder code (the same index the licences
carry), so a holder finds the reads of their licences without any clear number stored here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db.base import Base
from core.db.types import UtcDateTime


class LicenceAccessRow(Base):
    __tablename__ = "licence_accesses"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    basis: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    client_name: Mapped[str] = mapped_column(String(200))
    type_code: Mapped[str] = mapped_column(String(21))
    holder_code_index: Mapped[str] = mapped_column(String(64))
    holder_code_masked: Mapped[str | None] = mapped_column(String(18), nullable=True)
    purpose: Mapped[str] = mapped_column(String(200))
    grant_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    consenting_person_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    licences: Mapped[list[str]] = mapped_column(JSON)

    __table_args__ = (Index("ix_licence_accesses_holder", "holder_code_index", "at"),)


class SqlAccessLog:
    def add(self, session: Session, row: LicenceAccessRow) -> None:
        session.add(row)

    def of_holders(
        self, session: Session, indexes: list[str], limit: int
    ) -> list[LicenceAccessRow]:
        """The latest ``limit`` accesses to licences held under ``indexes``, newest first."""
        query = (
            select(LicenceAccessRow)
            .where(LicenceAccessRow.holder_code_index.in_(indexes))
            .order_by(LicenceAccessRow.at.desc(), LicenceAccessRow.id)
            .limit(limit)
        )
        return list(session.scalars(query))
