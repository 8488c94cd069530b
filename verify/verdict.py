"""What a verification concludes, as plain frozen values (one shape for the page, the JSON
API, the command line and the test vectors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from verify.payload import LicenceClaims
from verify.trust_list import TrustList


class Verdict(StrEnum):
    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    PRINT_LOST = "print_lost"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    STATUS_UNKNOWN = "status_unknown"
    NOT_GENUINE = "not_genuine"
    UNREADABLE = "unreadable"


class Check(StrEnum):
    """The steps, in order; a step not reached has no result (None)."""

    DECODE = "decode"
    SIGNATURE = "signature"
    EXPIRY = "expiry"
    STATUS = "status"


@dataclass(frozen=True)
class StatusFinding:
    """What a status source says of one QR: its verdict (VALID, SUSPENDED, REVOKED,
    SUPERSEDED, PRINT_LOST or STATUS_UNKNOWN), in words, from where and as of when."""

    verdict: Verdict
    message: str
    source: str
    as_of: datetime | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class LicenceView:
    """The minimum a verifier shows: what the licence is and whose, masked as policy asks."""

    identifier: str
    version: int
    kind: str
    type_name: str
    holder_name: str
    issuer_name: str
    valid_from: date
    valid_until: date | None
    print_serial: str | None

    @classmethod
    def of(cls, claims: LicenceClaims, trust: TrustList) -> LicenceView:
        """The view of ``claims``, naming type and issuer from the trust list's directories
        (their codes when the list does not know them yet)."""
        return cls(
            identifier=claims.identifier,
            version=claims.version,
            kind=claims.kind.name.lower(),
            type_name=trust.licence_types.get(claims.type_code, claims.type_code),
            holder_name=claims.holder_name,
            issuer_name=trust.issuers.get(claims.issuer_uscc, claims.issuer_uscc),
            valid_from=claims.valid_from,
            valid_until=claims.valid_until,
            print_serial=claims.print_serial,
        )


@dataclass(frozen=True)
class Verification:
    """The outcome: one verdict, the reasons in words, and each check's result."""

    verdict: Verdict
    reasons: tuple[str, ...]
    checks: dict[Check, bool | None] = field(default_factory=dict)
    licence: LicenceView | None = None
    key_id: str | None = None
    signed_at: datetime | None = None
    status_source: str | None = None
    status_as_of: datetime | None = None
    warnings: tuple[str, ...] = ()

    @property
    def is_valid(self) -> bool:
        return self.verdict is Verdict.VALID
