"""The IETF Token Status List (draft-ietf-oauth-status-list): a compressed bit array that
tells, for every QR a licence or print carries, whether it is still good.

§4.1: ``bits`` per entry (here 2), entry ``i`` at bit ``i * bits`` counted from the least
significant bit of byte 0, the byte array zlib-compressed (RFC 1950, best compression) and
base64url-encoded as ``lst``. §5.1: the list is the ``status_list`` claim of a JWT of
``typ: statuslist+jwt`` whose ``sub`` is the list's URI; ``iat``, ``exp`` and ``ttl``
(§13.7, how long a verifier may cache it) tell its age. §7.1 status types: 0 VALID,
1 INVALID, 2 SUSPENDED, 3 application-specific — here SUPERSEDED (a later version of the
licence is in force). Signed ES256 or, when the licence-signing key is SM2, ``SM2SM3``
(:mod:`verify.signing`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from keys import jws
from keys.jws import b64url, b64url_decode
from verify.signing import LicenceSigner, sign_jws, verify_jws

BITS = 2
STATUS_LIST_TYP = "statuslist+jwt"
MEDIA_TYPE = "application/statuslist+jwt"
SIZE_STEP = 8192
"""Lists grow in steps of this many entries (2 KB at 2 bits), so that a list's size says
little about how many licences were issued lately (herd privacy, §12.5)."""


class Status(IntEnum):
    VALID = 0
    INVALID = 1
    """Revoked (注销), or for a print: the print reported lost or destroyed."""
    SUSPENDED = 2
    SUPERSEDED = 3


class StatusListError(ValueError):
    """Not a status list token this verifier accepts (format, signature, subject or age)."""


def list_size(entries: int) -> int:
    """Entries in a published list that must hold ``entries``: a whole number of steps."""
    return max(1, -(-entries // SIZE_STEP)) * SIZE_STEP


def pack(statuses: Iterable[tuple[int, Status]], size: int, bits: int = BITS) -> bytes:
    """The byte array of ``size`` entries, all VALID except those given as (index, status)."""
    data = bytearray((size * bits + 7) // 8)
    per_byte = 8 // bits
    for index, status in statuses:
        if not 0 <= index < size:
            raise ValueError(f"status index {index} is outside a list of {size}")
        data[index // per_byte] |= int(status) << (index % per_byte * bits)
    return bytes(data)


@dataclass(frozen=True)
class StatusList:
    """A decoded status list (§4.1)."""

    bits: int
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data) * 8 // self.bits

    def status(self, index: int) -> int:
        if not 0 <= index < self.size:
            raise StatusListError(f"index {index} is outside the list ({self.size} entries)")
        per_byte = 8 // self.bits
        return (self.data[index // per_byte] >> (index % per_byte * self.bits)) & (
            (1 << self.bits) - 1
        )

    def claim(self) -> dict[str, Any]:
        return {"bits": self.bits, "lst": b64url(zlib.compress(self.data, 9))}

    @classmethod
    def from_claim(cls, claim: Any) -> StatusList:
        if not isinstance(claim, Mapping):
            raise StatusListError("status_list is not an object")
        bits, lst = claim.get("bits"), claim.get("lst")
        if bits not in (1, 2, 4, 8) or not isinstance(lst, str):
            raise StatusListError("status_list needs bits (1, 2, 4 or 8) and lst")
        try:
            return cls(bits, zlib.decompress(b64url_decode(lst)))
        except (zlib.error, jws.InvalidJws) as exc:
            raise StatusListError("lst is not base64url zlib data") from exc


@dataclass(frozen=True)
class StatusListToken:
    """A verified status list token."""

    uri: str
    issued_at: datetime
    expires_at: datetime | None
    ttl: int | None
    status_list: StatusList
    token: str


def sign_status_list(
    status_list: StatusList,
    uri: str,
    signer: LicenceSigner,
    now: datetime,
    lifetime_seconds: int,
    ttl_seconds: int,
) -> str:
    issued = int(now.timestamp())
    claims = {
        "sub": uri,
        "iat": issued,
        "exp": issued + lifetime_seconds,
        "ttl": ttl_seconds,
        "status_list": status_list.claim(),
    }
    return sign_jws(claims, signer, STATUS_LIST_TYP)


def _moment(value: Any, what: str) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise StatusListError(f"{what} is not a number of seconds")
    return datetime.fromtimestamp(value, UTC)


def read_status_list(token: str, keys: Mapping[str, PublicKeyTypes]) -> StatusListToken:
    """Verify the signature (by a key of the trust list) and the form of a status list token
    (§8.3 steps 1-5, without the subject and freshness checks, which the caller makes)."""
    try:
        claims = verify_jws(token, keys, STATUS_LIST_TYP)
    except jws.InvalidJws as exc:
        raise StatusListError(f"the status list token is not valid: {exc}") from exc
    uri = claims.get("sub")
    if not isinstance(uri, str):
        raise StatusListError("the status list token has no sub")
    ttl = claims.get("ttl")
    if ttl is not None and (not isinstance(ttl, int) or ttl < 0):
        raise StatusListError("ttl is not a number of seconds")
    expires = claims.get("exp")
    return StatusListToken(
        uri=uri,
        issued_at=_moment(claims.get("iat"), "iat"),
        expires_at=None if expires is None else _moment(expires, "exp"),
        ttl=ttl,
        status_list=StatusList.from_claim(claims.get("status_list")),
        token=token,
    )
