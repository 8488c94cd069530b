"""The licence registry's tables (电子证照库): one row per licence version, the append-only
history of every version, physical prints, and counters (licence types: :mod:`certs.type_storage`,
imported here so that registering this module registers every licence table).

A licence version's identifier (GB/T 36904) is its key. The holder code (GB/T 36903) is kept
as a blind index and an AES-GCM blob (:mod:`core.identifiers.protection`); a USCC (type
``001``) is public and also kept in clear, a resident ID number (``111``) never is.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    bindparam,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from certs.lifecycle import LicenceState, Transition
from certs.models import HolderCodeType, Licence, LicenceHistoryEntry, LicencePrint, PrintState
from certs.type_storage import LicenceTypeRow
from core.db.base import Base
from core.db.types import UtcDateTime

__all__ = [
    "LicenceCounterRow",
    "LicenceEventRow",
    "LicencePrintRow",
    "LicenceRow",
    "LicenceTypeRow",
    "SqlLicenceStore",
]


class LicenceRow(Base):
    """One version of a licence."""

    __tablename__ = "licences"

    identifier: Mapped[str] = mapped_column(String(128), primary_key=True)
    licence_number: Mapped[str] = mapped_column(String(64), index=True)
    type_code: Mapped[str] = mapped_column(ForeignKey("licence_types.code"))
    serial: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    issuer_uscc: Mapped[str] = mapped_column(String(18))
    issuer_name: Mapped[str] = mapped_column(String(200))
    holder_name: Mapped[str] = mapped_column(String(200))
    holder_code_type: Mapped[str] = mapped_column(String(3))
    holder_code_index: Mapped[str] = mapped_column(String(64), index=True)
    holder_code_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    holder_code: Mapped[str | None] = mapped_column(String(18), nullable=True)
    holder_code_masked: Mapped[str] = mapped_column(String(18))
    state: Mapped[str] = mapped_column(String(16))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    issued_on: Mapped[date] = mapped_column(Date)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    supersedes: Mapped[str | None] = mapped_column(ForeignKey("licences.identifier"), nullable=True)
    superseded_by: Mapped[str | None] = mapped_column(
        ForeignKey("licences.identifier"), nullable=True
    )
    status_list_index: Mapped[int] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    state_changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    state_reason: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint(
            "type_code", "issuer_uscc", "licence_number", "version", name="uq_licences_number"
        ),
        Index("ix_licences_chain", "type_code", "issuer_uscc", "serial"),
    )

    def to_licence(self) -> Licence:
        code_type: HolderCodeType = "111" if self.holder_code_type == "111" else "001"
        return Licence(
            identifier=self.identifier,
            licence_number=self.licence_number,
            type_code=self.type_code,
            serial=self.serial,
            version=self.version,
            issuer_uscc=self.issuer_uscc,
            issuer_name=self.issuer_name,
            holder_name=self.holder_name,
            holder_code_type=code_type,
            holder_code_masked=self.holder_code_masked,
            fields=dict(self.fields),
            issued_on=self.issued_on,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            state=LicenceState(self.state),
            state_reason=self.state_reason,
            state_changed_at=self.state_changed_at,
            created_at=self.created_at,
            status_list_index=self.status_list_index,
            supersedes=self.supersedes,
            superseded_by=self.superseded_by,
        )


# built once: every online verification runs it (building a select per call cost about as
# much as running it, bench/PROFILE.md)
_CHAIN_STATES = (
    select(LicenceRow.identifier, LicenceRow.version, LicenceRow.state, LicenceRow.valid_until)
    .where(LicenceRow.type_code == bindparam("type_code"))
    .where(LicenceRow.issuer_uscc == bindparam("issuer"))
    .where(LicenceRow.serial == bindparam("serial"))
    .order_by(LicenceRow.version)
)


class LicenceEventRow(Base):
    """Append-only: one row per state transition of one version."""

    __tablename__ = "licence_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    identifier: Mapped[str] = mapped_column(ForeignKey("licences.identifier"), index=True)
    event: Mapped[str] = mapped_column(String(16))
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    def to_entry(self) -> LicenceHistoryEntry:
        return LicenceHistoryEntry(
            identifier=self.identifier,
            event=self.event,
            from_state=None if self.from_state is None else LicenceState(self.from_state),
            to_state=LicenceState(self.to_state),
            reason=self.reason,
            actor=self.actor,
            at=self.at,
        )


class LicencePrintRow(Base):
    """One printing of the paper licence."""

    __tablename__ = "licence_prints"

    print_serial: Mapped[str] = mapped_column(String(32), primary_key=True)
    identifier: Mapped[str] = mapped_column(ForeignKey("licences.identifier"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    printed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    printed_by: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    reported_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status_list_index: Mapped[int | None] = mapped_column(
        BigInteger, nullable=True, unique=True, index=True
    )

    def to_print(self) -> LicencePrint:
        status: PrintState = self.status  # type: ignore[assignment]
        return LicencePrint(
            self.print_serial,
            self.identifier,
            self.version,
            self.printed_at,
            self.printed_by,
            status,
            self.reported_at,
            self.status_list_index,
        )


class LicenceCounterRow(Base):
    """Named counters: per type and issuer (serials, licence numbers) and the status list."""

    __tablename__ = "licence_counters"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger)


class SqlLicenceStore:
    """Queries and writes; every method runs in the caller's session and transaction."""

    def next_value(self, session: Session, name: str) -> int:
        """Take the next value (1, 2, ...) of counter ``name``. The UPDATE locks the row
        (PostgreSQL), so concurrent writers never get the same value."""
        for _ in range(3):
            step = (
                update(LicenceCounterRow)
                .where(LicenceCounterRow.name == name)
                .values(last_value=LicenceCounterRow.last_value + 1)
            )
            if session.execute(step).rowcount:  # type: ignore[attr-defined]
                query = select(LicenceCounterRow.last_value).where(LicenceCounterRow.name == name)
                return int(session.scalars(query.execution_options(populate_existing=True)).one())
            try:
                with session.begin_nested():
                    session.add(LicenceCounterRow(name=name, last_value=1))
                return 1
            except IntegrityError:
                continue  # another writer created it first: take the next value
        raise RuntimeError(f"counter {name} could not be advanced")

    def row(self, session: Session, identifier: str, *, lock: bool = False) -> LicenceRow | None:
        query = select(LicenceRow).where(LicenceRow.identifier == identifier)
        if lock:
            query = query.with_for_update()
        return session.scalars(query.execution_options(populate_existing=True)).first()

    def chain(self, session: Session, type_code: str, issuer: str, serial: str) -> list[LicenceRow]:
        """Every version of one licence, oldest first."""
        query = (
            select(LicenceRow)
            .where(LicenceRow.type_code == type_code)
            .where(LicenceRow.issuer_uscc == issuer)
            .where(LicenceRow.serial == serial)
            .order_by(LicenceRow.version)
        )
        return list(session.scalars(query))

    def chain_states(
        self, session: Session, type_code: str, issuer: str, serial: str
    ) -> list[tuple[str, int, str, date | None]]:
        """(identifier, version, state, valid_until) of every version of one licence, oldest
        first: what a status check reads, without the holder's data."""
        parameters = {"type_code": type_code, "issuer": issuer, "serial": serial}
        rows = session.execute(_CHAIN_STATES, parameters)
        return [(identifier, version, state, until) for identifier, version, state, until in rows]

    def current_by_number(
        self, session: Session, number: str, type_code: str | None, issuer: str | None
    ) -> list[LicenceRow]:
        query = select(LicenceRow).where(
            LicenceRow.licence_number == number, LicenceRow.superseded_by.is_(None)
        )
        if type_code is not None:
            query = query.where(LicenceRow.type_code == type_code)
        if issuer is not None:
            query = query.where(LicenceRow.issuer_uscc == issuer)
        return list(session.scalars(query.order_by(LicenceRow.identifier)))

    def current_by_holder(self, session: Session, indexes: list[str]) -> list[LicenceRow]:
        query = (
            select(LicenceRow)
            .where(LicenceRow.holder_code_index.in_(indexes), LicenceRow.superseded_by.is_(None))
            .order_by(LicenceRow.issued_on, LicenceRow.identifier)
        )
        return list(session.scalars(query))

    def due_for_expiry(self, session: Session, today: date) -> list[LicenceRow]:
        """Valid or suspended versions whose last valid day is before ``today``, locked."""
        query = (
            select(LicenceRow)
            .where(LicenceRow.state.in_([LicenceState.VALID.value, LicenceState.SUSPENDED.value]))
            .where(LicenceRow.valid_until.is_not(None), LicenceRow.valid_until < today)
            .order_by(LicenceRow.identifier)
            .with_for_update()
        )
        return list(session.scalars(query))

    def add_event(self, session: Session, identifier: str, step: Transition) -> None:
        session.add(
            LicenceEventRow(
                identifier=identifier,
                event=step.event.value,
                from_state=None if step.from_state is None else step.from_state.value,
                to_state=step.to_state.value,
                reason=step.reason,
                actor=step.actor,
                at=step.at,
            )
        )

    def events(self, session: Session, identifier: str) -> list[LicenceHistoryEntry]:
        query = (
            select(LicenceEventRow)
            .where(LicenceEventRow.identifier == identifier)
            .order_by(LicenceEventRow.id)
        )
        return [row.to_entry() for row in session.scalars(query)]

    def print_row(
        self, session: Session, print_serial: str, *, lock: bool = False
    ) -> LicencePrintRow | None:
        query = select(LicencePrintRow).where(LicencePrintRow.print_serial == print_serial)
        if lock:
            query = query.with_for_update()
        return session.scalars(query.execution_options(populate_existing=True)).first()

    def prints_of(self, session: Session, identifiers: list[str]) -> list[LicencePrint]:
        query = (
            select(LicencePrintRow)
            .where(LicencePrintRow.identifier.in_(identifiers))
            .order_by(
                LicencePrintRow.version, LicencePrintRow.printed_at, LicencePrintRow.print_serial
            )
        )
        return [row.to_print() for row in session.scalars(query)]
