"""The claims a licence QR carries: a CWT (RFC 8392) claims set, signed as a COSE_Sign1.

Format version 1 (``verify/FORMAT.md``)::

    {
      6: iat,                                  signing time, seconds since the epoch
      4: exp,                                  only in a dynamic (亮证) QR: minutes after iat
      65535: {"status_list": {"idx": n, "uri": "https://.../verify/status-lists/1"}},
      -65537: {                                the licence (private-use claim, RFC 8392 §4)
        1: identifier (GB/T 36904) without its fixed "1.2.156.3005.2." prefix,
        2: kind (0 electronic, 1 print, 2 dynamic),
        3: holder name as shown (a person's masked),
        4: valid from, 5: valid until (absent: long-term),
        6: print serial (8 bytes, prints only)
      }
    }

Dates are calendar days in China time counted from 1970-01-01 (RFC 8943's day count,
untagged); ``65535`` is the Token Status List reference (draft-ietf-oauth-status-list §6.3).
The licence type and the issuing authority are named by codes inside the identifier; their
names come from the signed trust list, as the EU DCC's value sets name its codes, which keeps
a printed QR at version 13-15. Decoding is strict: a missing or mistyped claim is an error,
unknown claims are ignored (so that later minor versions can add some).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from functools import lru_cache
from typing import Any

import cbor2

from certs.identifiers import PREFIX, InvalidLicenceIdentifier, parse_licence_identifier

CLAIM_EXP = 4
CLAIM_IAT = 6
CLAIM_STATUS = 65535
CLAIM_LICENCE = -65537
EPOCH_DAY = date(1970, 1, 1)
PRINT_SERIAL_BYTES = 8
IDENTIFIER_PREFIX = PREFIX + "."


class QrKind(IntEnum):
    ELECTRONIC = 0
    """On the electronic licence (its PDF): verifies while the version is in force."""
    PRINT = 1
    """On one paper print: also carries the print serial (lost prints stop verifying)."""
    DYNAMIC = 2
    """Shown on the holder's phone (亮证): expires minutes after it was made."""


_parsed = lru_cache(maxsize=4096)(parse_licence_identifier)
"""Identifiers checked once (two USCC check characters and a MOD 37,36 each), not at every
read of a claim: a verifier sees the same licences again and again."""


class PayloadError(ValueError):
    """The CBOR is not a licence claims set of this format."""


@dataclass(frozen=True)
class LicenceClaims:
    identifier: str
    kind: QrKind
    holder_name: str
    valid_from: date
    valid_until: date | None
    issued_at: datetime
    status_index: int
    status_uri: str
    expires_at: datetime | None = None
    print_serial: str | None = None

    @property
    def version(self) -> int:
        return _parsed(self.identifier).version_number

    @property
    def type_code(self) -> str:
        return _parsed(self.identifier).type_code

    @property
    def issuer_uscc(self) -> str:
        return _parsed(self.identifier).issuer


def _days(day: date) -> int:
    return (day - EPOCH_DAY).days


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def encode_claims(claims: LicenceClaims) -> bytes:
    if not claims.identifier.startswith(IDENTIFIER_PREFIX):
        raise ValueError("not a GB/T 36904 licence identifier")
    licence: dict[int, Any] = {
        1: claims.identifier.removeprefix(IDENTIFIER_PREFIX),
        2: int(claims.kind),
        3: claims.holder_name,
        4: _days(claims.valid_from),
    }
    if claims.valid_until is not None:
        licence[5] = _days(claims.valid_until)
    if claims.print_serial is not None:
        licence[6] = bytes.fromhex(claims.print_serial)
    cwt: dict[int, Any] = {
        CLAIM_IAT: _seconds(claims.issued_at),
        CLAIM_STATUS: {"status_list": {"idx": claims.status_index, "uri": claims.status_uri}},
        CLAIM_LICENCE: licence,
    }
    if claims.expires_at is not None:
        cwt[CLAIM_EXP] = _seconds(claims.expires_at)
    return cbor2.dumps(cwt)


def _get(mapping: Mapping[Any, Any], key: Any, kind: type | tuple[type, ...], what: str) -> Any:
    value = mapping.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise PayloadError(f"{what} is missing or of the wrong type")
    return value


def _day(value: int, what: str) -> date:
    try:
        return EPOCH_DAY + timedelta(days=value)
    except OverflowError:
        raise PayloadError(f"{what} is out of range") from None


def _moment(value: int, what: str) -> datetime:
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise PayloadError(f"{what} is out of range") from None


def decode_claims(data: bytes) -> LicenceClaims:
    try:
        cwt = cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several error types on bad input
        raise PayloadError("the payload is not CBOR") from exc
    if not isinstance(cwt, Mapping):
        raise PayloadError("the payload is not a CWT claims map")
    licence = _get(cwt, CLAIM_LICENCE, Mapping, "the licence claim")
    status_claim = _get(cwt, CLAIM_STATUS, Mapping, "the status claim")
    status = _get(status_claim, "status_list", Mapping, "the status list reference")
    identifier = IDENTIFIER_PREFIX + _get(licence, 1, str, "the licence identifier")
    try:
        _parsed(identifier)
    except InvalidLicenceIdentifier as exc:
        raise PayloadError(f"the licence identifier is not valid: {exc}") from None
    try:
        kind = QrKind(_get(licence, 2, int, "the kind"))
    except ValueError:
        raise PayloadError("the kind is unknown") from None
    serial = licence.get(6)
    if kind is QrKind.PRINT:
        if not isinstance(serial, bytes) or len(serial) != PRINT_SERIAL_BYTES:
            raise PayloadError("a print's QR carries its 8-byte print serial")
    elif serial is not None:
        raise PayloadError("only a print's QR carries a print serial")
    until = licence.get(5)
    if until is not None and (not isinstance(until, int) or isinstance(until, bool)):
        raise PayloadError("the end of validity is of the wrong type")
    expires = cwt.get(CLAIM_EXP)
    if kind is QrKind.DYNAMIC:
        expires = _get(cwt, CLAIM_EXP, int, "a dynamic QR's expiry")
    elif expires is not None:
        raise PayloadError("only a dynamic QR expires")
    index = _get(status, "idx", int, "the status list index")
    if index < 0:
        raise PayloadError("the status list index is negative")
    return LicenceClaims(
        identifier=identifier,
        kind=kind,
        holder_name=_get(licence, 3, str, "the holder name"),
        valid_from=_day(_get(licence, 4, int, "the start of validity"), "valid from"),
        valid_until=None if until is None else _day(until, "valid until"),
        issued_at=_moment(_get(cwt, CLAIM_IAT, int, "the signing time"), "iat"),
        status_index=index,
        status_uri=_get(status, "uri", str, "the status list URI"),
        expires_at=None if expires is None else _moment(expires, "exp"),
        print_serial=None if serial is None else serial.hex().upper(),
    )
