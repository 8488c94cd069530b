"""The key registry's tables: keys (never a private key in clear) and issued certificates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BigInteger, Index, LargeBinary, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db.base import Base
from core.db.types import UtcDateTime


class KeyRow(Base):
    __tablename__ = "keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    key_type: Mapped[str] = mapped_column(String(16))
    backend: Mapped[str] = mapped_column(String(16))
    reference: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(Text)
    certificate: Mapped[str | None] = mapped_column(Text, nullable=True)
    issuer_kid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    publish_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    __table_args__ = (Index("ix_keys_purpose_state", "purpose", "state"),)


class IssuedCertificateRow(Base):
    __tablename__ = "issued_certificates"

    issuer_kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    serial: Mapped[str] = mapped_column(String(48), primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(String(32))
    subject_kid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    not_after: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


class CrlNumberRow(Base):
    """The last CRL number each CA used: CRL numbers only grow (RFC 5280 §5.2.3)."""

    __tablename__ = "crl_numbers"

    issuer_kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger)


def serial_text(serial: int) -> str:
    return format(serial, "x")


class SqlKeyStorage:
    def add(self, session: Session, row: KeyRow | IssuedCertificateRow) -> None:
        session.add(row)
        session.flush()

    def key(self, session: Session, kid: str) -> KeyRow | None:
        return session.get(KeyRow, kid)

    def keys(
        self, session: Session, purpose: str | None = None, states: Sequence[str] = ()
    ) -> list[KeyRow]:
        query = select(KeyRow).order_by(KeyRow.purpose, KeyRow.created_at, KeyRow.kid)
        if purpose is not None:
            query = query.where(KeyRow.purpose == purpose)
        if states:
            query = query.where(KeyRow.state.in_(states))
        return list(session.scalars(query))

    def certificate(
        self, session: Session, issuer_kid: str, serial: int
    ) -> IssuedCertificateRow | None:
        return session.get(IssuedCertificateRow, (issuer_kid, serial_text(serial)))

    def next_crl_number(self, session: Session, issuer_kid: str, at_least: int) -> int:
        """Take the next CRL number of ``issuer_kid`` (call under the registry's lock)."""
        row = session.get(CrlNumberRow, issuer_kid)
        if row is None:
            row = CrlNumberRow(issuer_kid=issuer_kid, last_number=at_least - 1)
            session.add(row)
        row.last_number = max(row.last_number + 1, at_least)
        session.flush()
        return row.last_number

    def revoked_count(self, session: Session, issuer_kid: str) -> int:
        """How many certificates of ``issuer_kid`` are revoked (a revocation is never
        undone, so the count changes with each one)."""
        query = (
            select(func.count())
            .select_from(IssuedCertificateRow)
            .where(IssuedCertificateRow.issuer_kid == issuer_kid)
            .where(IssuedCertificateRow.revoked_at.is_not(None))
        )
        return int(session.scalar(query) or 0)

    def revoked(self, session: Session, issuer_kid: str) -> list[IssuedCertificateRow]:
        query = (
            select(IssuedCertificateRow)
            .where(IssuedCertificateRow.issuer_kid == issuer_kid)
            .where(IssuedCertificateRow.revoked_at.is_not(None))
            .order_by(IssuedCertificateRow.revoked_at)
        )
        return list(session.scalars(query))
