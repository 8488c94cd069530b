"""Which licences came from which CSV import (``licence_imports``).

A row is keyed by licence type, issuing authority and the *source key* of the imported CSV
row (:func:`certs.csv_import.source_key`): ``number:`` and the legacy licence number, or
``row:`` and a keyed hash of the row's content when the legacy licence has no number. The
unique constraint makes a second import of the same row impossible, even by two imports
running at once (the later transaction fails and writes nothing).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from certs.storage import LicenceRow
from core.db.base import Base
from core.db.types import UtcDateTime


class LicenceImportRow(Base):
    """One licence brought in by a bulk import."""

    __tablename__ = "licence_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    type_code: Mapped[str] = mapped_column(String(21))
    issuer_uscc: Mapped[str] = mapped_column(String(18))
    source_key: Mapped[str] = mapped_column(String(80))
    identifier: Mapped[str] = mapped_column(ForeignKey("licences.identifier"))
    batch_id: Mapped[str] = mapped_column(String(32), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    imported_by: Mapped[str] = mapped_column(String(128))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint(
            "type_code", "issuer_uscc", "source_key", name="uq_licence_imports_source"
        ),
    )


class SqlImportStore:
    """Queries and writes in the caller's session."""

    def imported(
        self, session: Session, type_code: str, issuer: str, keys: list[str]
    ) -> dict[str, str]:
        """source key -> licence identifier, for the ``keys`` already imported."""
        found: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            query = select(LicenceImportRow.source_key, LicenceImportRow.identifier).where(
                LicenceImportRow.type_code == type_code,
                LicenceImportRow.issuer_uscc == issuer,
                LicenceImportRow.source_key.in_(keys[start : start + 500]),
            )
            found.update({key: identifier for key, identifier in session.execute(query)})
        return found

    def numbered(
        self, session: Session, type_code: str, issuer: str, numbers: list[str]
    ) -> dict[str, str]:
        """licence number -> identifier of the current version, for the ``numbers`` that
        licences of this type and issuer already carry (issued here or imported)."""
        found: dict[str, str] = {}
        for start in range(0, len(numbers), 500):
            query = select(LicenceRow.licence_number, LicenceRow.identifier).where(
                LicenceRow.type_code == type_code,
                LicenceRow.issuer_uscc == issuer,
                LicenceRow.licence_number.in_(numbers[start : start + 500]),
                LicenceRow.superseded_by.is_(None),
            )
            found.update({number: identifier for number, identifier in session.execute(query)})
        return found

    def add(self, session: Session, row: LicenceImportRow) -> None:
        session.add(row)
