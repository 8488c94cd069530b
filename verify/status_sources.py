"""Where a verifier learns whether a genuine QR is still good.

* :class:`RegistryStatus`, online: asks the licence registry at the moment of the scan, so
  a revocation is seen at once and a paper print's verdict is exact ("print reported lost",
  "superseded by version 3").
* :class:`StatusListStatus`, offline: reads the entry the QR names in a cached Token Status
  List (``verify.status_list``); as fresh as the last refresh, which it reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from certs.errors import LicenceNotFound, PrintNotFound
from certs.lifecycle import LicenceState, effective_state
from certs.prints import LicencePrints
from certs.queries import LicenceReads
from verify.payload import LicenceClaims, QrKind
from verify.status_list import Status, StatusListError, StatusListToken
from verify.verdict import StatusFinding, Verdict

ONLINE = "registry"
OFFLINE = "status-list"

_PRINT_VERDICTS = {
    "valid": Verdict.VALID,
    "superseded": Verdict.SUPERSEDED,
    "print_lost": Verdict.PRINT_LOST,
    "print_destroyed": Verdict.PRINT_LOST,
    "revoked": Verdict.REVOKED,
    "suspended": Verdict.SUSPENDED,
    "expired": Verdict.EXPIRED,
}
_STATE_VERDICTS = {
    LicenceState.VALID: Verdict.VALID,
    LicenceState.SUSPENDED: Verdict.SUSPENDED,
    LicenceState.REVOKED: Verdict.REVOKED,
    LicenceState.EXPIRED: Verdict.EXPIRED,
}


class RegistryStatus:
    def __init__(self, registry: LicencePrints) -> None:
        self.registry = registry

    def status_of(self, claims: LicenceClaims, now: datetime) -> StatusFinding:
        try:
            if claims.kind is QrKind.PRINT and claims.print_serial is not None:
                printed = self.registry.print_status(claims.print_serial)
                if printed.identifier != claims.identifier:
                    raise PrintNotFound()
                return StatusFinding(_PRINT_VERDICTS[printed.verdict], printed.message, ONLINE, now)
            return self._version_status(self.registry, claims.identifier, now)
        except (LicenceNotFound, PrintNotFound):
            return StatusFinding(
                Verdict.STATUS_UNKNOWN, "not found in the licence registry", ONLINE, now
            )

    @staticmethod
    def _version_status(registry: LicenceReads, identifier: str, now: datetime) -> StatusFinding:
        current = registry.current_status(identifier)
        if effective_state(current, now) is LicenceState.REVOKED:
            return StatusFinding(Verdict.REVOKED, "revoked", ONLINE, now)
        if current.identifier != identifier:
            message = f"superseded by version {current.version}"
            return StatusFinding(Verdict.SUPERSEDED, message, ONLINE, now)
        verdict = _STATE_VERDICTS[effective_state(current, now)]
        return StatusFinding(verdict, verdict.value, ONLINE, now)


class StatusListStatus:
    def __init__(self, lists: Mapping[str, StatusListToken]) -> None:
        self.lists = lists

    def status_of(self, claims: LicenceClaims, now: datetime) -> StatusFinding:
        token = self.lists.get(claims.status_uri)
        if token is None:
            return StatusFinding(
                Verdict.STATUS_UNKNOWN,
                f"no status list from {claims.status_uri} is cached: refresh when online",
                OFFLINE,
                None,
            )
        as_of = token.issued_at
        if token.expires_at is not None and now > token.expires_at:
            return StatusFinding(
                Verdict.STATUS_UNKNOWN,
                "the cached status list has expired: refresh when online",
                OFFLINE,
                as_of,
            )
        warnings: tuple[str, ...] = ()
        age = int((now - as_of).total_seconds())
        if token.ttl is not None and age > token.ttl:
            warnings = (f"the status list is {age // 60} minutes old",)
        try:
            value = token.status_list.status(claims.status_index)
        except StatusListError as exc:
            return StatusFinding(Verdict.STATUS_UNKNOWN, str(exc), OFFLINE, as_of, warnings)
        if value == Status.VALID:
            finding = (Verdict.VALID, "valid")
        elif value == Status.SUSPENDED:
            finding = (Verdict.SUSPENDED, "suspended")
        elif value == Status.SUPERSEDED:
            finding = (Verdict.SUPERSEDED, "superseded by a later version")
        elif claims.kind is QrKind.PRINT:
            finding = (Verdict.REVOKED, "revoked, or this paper print was reported lost")
        else:
            finding = (Verdict.REVOKED, "revoked")
        return StatusFinding(finding[0], finding[1], OFFLINE, as_of, warnings)
