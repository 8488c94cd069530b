"""Physical prints of a licence (实体证照): each printing gets a print serial tied to the
version it shows, so a scanned paper copy tells what it is worth now.

The printed QR carries the version's identifier (GB/T 36904, which includes the version) and
the print serial. :meth:`LicencePrints.print_status` answers, in this order: the print was
reported lost or destroyed; the licence is revoked (注销); the print shows a superseded
version ("superseded by version 3"); else the printed version's own state (valid, suspended,
expired). Every print event is in the audit trail with the version's identifier.
"""

from __future__ import annotations

import secrets

from certs.errors import PrintNotFound, PrintStateConflict
from certs.lifecycle import LicenceState, effective_state
from certs.models import LicencePrint, PrintState, PrintStatus, PrintVerdict
from certs.queries import LicenceReads
from certs.storage import LicencePrintRow
from core.db.engine import transaction

PRINT_SERIAL_BYTES = 8
_STATE_VERDICTS: dict[LicenceState, PrintVerdict] = {
    LicenceState.VALID: "valid",
    LicenceState.SUSPENDED: "suspended",
    LicenceState.EXPIRED: "expired",
    LicenceState.REVOKED: "revoked",
}


def new_print_serial() -> str:
    """16 upper-case hex characters from a CSPRNG: not guessable from another print's."""
    return secrets.token_hex(PRINT_SERIAL_BYTES).upper()


class LicencePrints(LicenceReads):
    def record_print(self, identifier: str, actor: str) -> str:
        """Record one printing of version ``identifier`` (which must be valid now) and return
        the new print serial."""
        now = self.clock()
        with transaction(self.sessions) as session:
            row = self._row(session, identifier, lock=True)
            state = effective_state(row.to_licence(), now)
            if state is not LicenceState.VALID:
                raise PrintStateConflict(f"a {state.value} licence version cannot be printed")
            serial = new_print_serial()
            session.add(
                LicencePrintRow(
                    print_serial=serial,
                    identifier=identifier,
                    version=row.version,
                    printed_at=now,
                    printed_by=actor,
                    status="active",
                    status_list_index=self.store.next_value(session, "status-list") - 1,
                )
            )
            session.flush()
            self._record(
                session,
                actor,
                "licence.printed",
                identifier,
                print_serial=serial,
                version=row.version,
            )
        return serial

    def report_print_lost(
        self, print_serial: str, actor: str, reason: str | None = None
    ) -> LicencePrint:
        """The paper copy ``print_serial`` is lost: from now on it never verifies as valid
        (``reason``, if given, goes into the audit entry)."""
        return self._close_print(print_serial, actor, "lost", reason)

    def report_print_destroyed(self, print_serial: str, actor: str) -> LicencePrint:
        """The paper copy was taken back and destroyed (e.g. after a change)."""
        return self._close_print(print_serial, actor, "destroyed")

    def _close_print(
        self, print_serial: str, actor: str, status: PrintState, reason: str | None = None
    ) -> LicencePrint:
        now = self.clock()
        with transaction(self.sessions) as session:
            row = self.store.print_row(session, print_serial, lock=True)
            if row is None:
                raise PrintNotFound()
            if row.status != "active":
                raise PrintStateConflict(f"the print is already reported {row.status}")
            row.status = status
            row.reported_at = now
            row.reported_by = actor
            session.flush()
            self._record(
                session,
                actor,
                f"licence.print_{status}",
                row.identifier,
                print_serial=print_serial,
                version=row.version,
                **({} if reason is None else {"reason": reason}),
            )
            return row.to_print()

    def prints(self, identifier: str) -> list[LicencePrint]:
        """Every print of every version of the licence ``identifier`` belongs to."""
        with self.sessions() as session:
            row = self._row(session, identifier)
            chain = self.store.chain(session, row.type_code, row.issuer_uscc, row.serial)
            return self.store.prints_of(session, [version.identifier for version in chain])

    def print_status(self, print_serial: str) -> PrintStatus:
        """What the scanned paper copy ``print_serial`` means now."""
        now = self.clock()
        with self.sessions() as session:
            printed_copy = self.store.print_row(session, print_serial)
            if printed_copy is None:
                raise PrintNotFound()
            printed = self._row(session, printed_copy.identifier)
            chain = self.store.chain(
                session, printed.type_code, printed.issuer_uscc, printed.serial
            )
        current = chain[-1]
        current_state = effective_state(current.to_licence(), now)
        verdict: PrintVerdict
        if printed_copy.status == "lost":
            verdict, message = "print_lost", "print reported lost"
        elif printed_copy.status == "destroyed":
            verdict, message = "print_destroyed", "print reported destroyed"
        elif current_state is LicenceState.REVOKED:
            verdict, message = "revoked", "revoked"
        elif current.identifier != printed.identifier:
            verdict, message = "superseded", f"superseded by version {current.version}"
        else:
            verdict = _STATE_VERDICTS[effective_state(printed.to_licence(), now)]
            message = verdict
        return PrintStatus(
            print_serial=print_serial,
            verdict=verdict,
            message=message,
            identifier=printed.identifier,
            version=printed.version,
            current_identifier=current.identifier,
            current_version=current.version,
        )
