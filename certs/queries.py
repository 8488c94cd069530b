"""Reading the licence registry (电子证照库): a version, the version in force, a licence's
history, a holder's licences; plus what the writers share (the audit helper).

A holder is found by the blind index of the holder code (GB/T 36903 holder code types ``111``
resident ID number and ``001`` USCC): the clear number never appears in a query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from certs.errors import (
    AmbiguousLicenceNumber,
    LicenceNotFound,
    LicenceTypeNotFound,
    invalid_holder_code,
)
from certs.identifiers import InvalidLicenceIdentifier, parse_licence_identifier
from certs.lifecycle import LicenceState
from certs.models import HolderCodeType, Licence, LicenceHistoryEntry
from certs.storage import LicenceRow, SqlLicenceStore
from certs.type_storage import SqlLicenceTypeStore
from certs.types import LicenceType
from core.audit.entry import AuditEvent
from core.audit.trail import AuditTrail
from core.identifiers.errors import InvalidIdentifier
from core.identifiers.protection import IdentifierProtector
from core.identifiers.resident_id import parse_resident_id
from core.identifiers.uscc import parse_uscc
from idp.identities.storage import RESIDENT_ID_KIND

USCC_KIND = "uscc"
"""Blind-index kinds: the same as :mod:`idp.identities` uses, so a person's or an
organisation's index finds their licences."""
INDEX_KINDS: dict[HolderCodeType, str] = {"111": RESIDENT_ID_KIND, "001": USCC_KIND}


@dataclass(frozen=True)
class VersionStatus:
    """The state of a licence's version in force (or its last one), as a status check reads
    it: no holder data."""

    identifier: str
    version: int
    state: LicenceState
    valid_until: date | None


@dataclass(frozen=True)
class ProtectedHolderCode:
    """A validated holder code as it is stored: blind index, ciphertext, masked form, and the
    clear value only for a USCC (public)."""

    code_type: HolderCodeType
    index: str
    encrypted: bytes
    masked: str
    clear: str | None


def _normalised(code_type: HolderCodeType, text: str) -> tuple[str, str]:
    """(value, masked) of a holder code of ``code_type``; raises InvalidIdentifier."""
    compact = "".join(text.split())
    if code_type == "111":
        resident = parse_resident_id(compact)
        return resident.value, resident.masked()
    uscc = parse_uscc(compact).value
    return uscc, uscc


class LicenceReads:
    """The read side of the registry, and the parts the writing side builds on."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        protector: IdentifierProtector,
        audit: AuditTrail,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.protector = protector
        self.audit = audit
        self.clock = clock
        self.store = SqlLicenceStore()
        self.types = SqlLicenceTypeStore()

    # -- shared by the writers -------------------------------------------------------

    def _record(
        self, session: Session, actor: str, action: str, identifier: str, **details: Any
    ) -> None:
        """One audit entry for one licence version, in the caller's transaction. Details hold
        states, versions, reasons and print serials: never a holder code or name."""
        self.audit.record(
            session,
            AuditEvent(
                actor=actor,
                action=action,
                object_type="licence",
                object_id=identifier,
                details=dict(details),
            ),
        )

    def _protect(self, code_type: HolderCodeType, text: str) -> ProtectedHolderCode:
        try:
            value, masked = _normalised(code_type, text)
        except InvalidIdentifier:
            raise invalid_holder_code(code_type) from None
        kind = INDEX_KINDS[code_type]
        return ProtectedHolderCode(
            code_type,
            self.protector.blind_index(kind, value),
            self.protector.encrypt(kind, value),
            masked,
            value if code_type == "001" else None,
        )

    def _row(self, session: Session, identifier: str, *, lock: bool = False) -> LicenceRow:
        row = self.store.row(session, identifier, lock=lock)
        if row is None:
            raise LicenceNotFound()
        return row

    def _type(self, session: Session, code: str) -> LicenceType:
        row = self.types.type_row(session, code)
        if row is None:
            raise LicenceTypeNotFound()
        return row.to_type()

    # -- licences --------------------------------------------------------------------

    def get(self, identifier: str) -> Licence:
        """One version as stored (see :func:`certs.lifecycle.effective_state` for expiry)."""
        with self.sessions() as session:
            return self._row(session, identifier).to_licence()

    def versions(self, identifier: str) -> list[Licence]:
        """Every version of the licence that ``identifier`` belongs to, oldest first."""
        with self.sessions() as session:
            row = self._row(session, identifier)
            chain = self.store.chain(session, row.type_code, row.issuer_uscc, row.serial)
            return [version.to_licence() for version in chain]

    def history(self, identifier: str) -> list[LicenceHistoryEntry]:
        """The transitions of one version, in order."""
        with self.sessions() as session:
            self._row(session, identifier)
            return self.store.events(session, identifier)

    def current_status(self, identifier: str) -> VersionStatus:
        """The state of the version in force (or the last one) of the licence that
        ``identifier`` names a version of, as :meth:`current_version` finds it, but reading
        only the versions' states: what every online verification asks (``verify``)."""
        try:
            parsed = parse_licence_identifier(identifier)
        except InvalidLicenceIdentifier:
            raise LicenceNotFound() from None
        with self.sessions() as session:
            chain = self.store.chain_states(session, parsed.type_code, parsed.issuer, parsed.serial)
        if not any(version[0] == identifier for version in chain):
            raise LicenceNotFound()
        current, version, state, valid_until = chain[-1]
        return VersionStatus(current, version, LicenceState(state), valid_until)

    def current_version(
        self, key: str, *, type_code: str | None = None, issuer_uscc: str | None = None
    ) -> Licence:
        """The version in force (or the last one) of a licence named by the identifier of any
        of its versions, or by its licence number (narrowed by type and issuer if several
        licences share it: 409 otherwise)."""
        try:
            parsed = parse_licence_identifier(key)
        except InvalidLicenceIdentifier:
            parsed = None
        with self.sessions() as session:
            if parsed is not None:
                chain = self.store.chain(session, parsed.type_code, parsed.issuer, parsed.serial)
                if not any(row.identifier == key for row in chain):
                    raise LicenceNotFound()
                return chain[-1].to_licence()
            rows = self.store.current_by_number(session, key, type_code, issuer_uscc)
            if not rows:
                raise LicenceNotFound()
            if len(rows) > 1:
                raise AmbiguousLicenceNumber()
            return rows[0].to_licence()

    def search_by_holder(self, holder_code: str) -> list[Licence]:
        """The current version of every licence held under ``holder_code`` (a resident ID
        number or a USCC), found by blind index."""
        indexes: list[str] = []
        for code_type in INDEX_KINDS:
            try:
                value, _ = _normalised(code_type, holder_code)
            except InvalidIdentifier:
                continue
            indexes.append(self.protector.blind_index(INDEX_KINDS[code_type], value))
        if not indexes:
            raise invalid_holder_code(None)
        with self.sessions() as session:
            return [row.to_licence() for row in self.store.current_by_holder(session, indexes)]

    def holder_code(self, identifier: str) -> str:
        """The clear holder code of a version, decrypted (for rendering the licence to its
        holder or issuer; never for logs or the audit trail)."""
        with self.sessions() as session:
            row = self._row(session, identifier)
        code_type: HolderCodeType = "111" if row.holder_code_type == "111" else "001"
        return self.protector.decrypt(INDEX_KINDS[code_type], bytes(row.holder_code_encrypted))
