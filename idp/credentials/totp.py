"""HOTP (RFC 4226) and TOTP (RFC 6238), implemented on :mod:`hmac`.

* HOTP (RFC 4226 §5.3): ``Truncate(HMAC-SHA-1(K, C)) mod 10^Digit`` with the 8-byte
  big-endian counter ``C`` and the dynamic truncation of §5.4.
* TOTP (RFC 6238 §4): HOTP with ``C = floor((unix time - T0) / X)``, ``T0 = 0``, ``X = 30 s``.
  RFC 6238 §1.2 also allows HMAC-SHA-256 and HMAC-SHA-512; the authenticator apps use SHA-1.
* Verification accepts ``window`` steps either side of the current one for clock drift
  (RFC 6238 §5.2, §6) and refuses any step at or before the last one accepted for the
  same secret: "the verifier MUST NOT accept the second attempt of the same OTP after the
  successful validation has been issued for the first OTP" (RFC 6238 §5.2). The caller
  stores the returned step and passes it back as ``last_used_step``.
* Secrets are 160 bits (RFC 4226 §4, R6 recommends 160) in RFC 4648 base32 without padding,
  and :func:`provisioning_uri` writes the ``otpauth://`` key URI of Google Authenticator.

Secrets and codes are never logged or put in exception messages.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from urllib.parse import quote, urlencode

__all__ = [
    "DIGITS",
    "MIN_SECRET_BYTES",
    "PERIOD",
    "SECRET_BYTES",
    "Algorithm",
    "decode_secret",
    "dynamic_truncate",
    "hotp",
    "new_secret",
    "provisioning_uri",
    "time_step",
    "totp",
    "verify_totp",
]

Algorithm = Literal["sha1", "sha256", "sha512"]

DIGITS: Final = 6
PERIOD: Final = 30
SECRET_BYTES: Final = 20
MIN_SECRET_BYTES: Final = 16
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_DIGITS: Final = 6  # RFC 4226 §5.3: at least a 6-digit value
_MAX_DIGITS: Final = 10  # the truncated value is 31 bits
_WHITESPACE: Final = re.compile(r"\s+")


def _check_digits(digits: int) -> None:
    if not _MIN_DIGITS <= digits <= _MAX_DIGITS:
        raise ValueError(f"digits must be between {_MIN_DIGITS} and {_MAX_DIGITS}")


def dynamic_truncate(mac: bytes) -> int:
    """RFC 4226 §5.4: 31 bits at the offset given by the low nibble of the last byte."""
    offset = mac[-1] & 0x0F
    return int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, algorithm: Algorithm = "sha1") -> str:
    """The HOTP value of ``counter`` under ``key`` (RFC 4226 §5.3), zero-padded."""
    _check_digits(digits)
    if not 0 <= counter < 2**64:
        raise ValueError("counter must fit in 8 unsigned bytes")
    mac = hmac.new(key, counter.to_bytes(8, "big"), algorithm).digest()
    return f"{dynamic_truncate(mac) % 10**digits:0{digits}d}"


def time_step(at: datetime, *, period: int = PERIOD) -> int:
    """RFC 6238 §4.2: ``T = floor((unix time - T0) / X)`` with ``T0 = 0``; exact, no floats."""
    if at.tzinfo is None:
        raise ValueError("a timezone-aware datetime is required")
    if period <= 0:
        raise ValueError("period must be positive")
    return (at - _EPOCH) // timedelta(seconds=period)


def totp(
    key: bytes,
    at: datetime,
    *,
    digits: int = DIGITS,
    period: int = PERIOD,
    algorithm: Algorithm = "sha1",
) -> str:
    """The TOTP value at ``at`` (RFC 6238 §4.2)."""
    return hotp(key, time_step(at, period=period), digits=digits, algorithm=algorithm)


def new_secret() -> str:
    """A fresh 160-bit secret from :mod:`secrets`, base32 (RFC 4648 §6), 32 characters."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def decode_secret(secret: str) -> bytes:
    """The key bytes of a base32 secret; tolerant of case, spaces and missing padding.

    Secrets shorter than 128 bits are refused (RFC 4226 §4, requirement R6).
    """
    text = _WHITESPACE.sub("", secret).upper().rstrip("=")
    try:
        key = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise ValueError("the secret is not valid base32") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError("the secret must be at least 128 bits (RFC 4226 §4, R6)")
    return key


def provisioning_uri(
    secret: str,
    account_label: str,
    issuer: str,
    *,
    digits: int = DIGITS,
    period: int = PERIOD,
    algorithm: Algorithm = "sha1",
) -> str:
    """The ``otpauth://totp/Issuer:account?secret=...&issuer=...`` key URI (Google
    Authenticator "Key Uri Format"), shown to the user as a QR code.

    The label is ``issuer:account`` with each part percent-encoded (RFC 3986 §2.1); neither
    may contain a colon. ``issuer`` is repeated as a parameter, as the format recommends.
    """
    decode_secret(secret)  # refuse a malformed secret before it reaches an authenticator
    _check_digits(digits)
    for name, value in (("account_label", account_label), ("issuer", issuer)):
        if not value or ":" in value:
            raise ValueError(f"{name} must be non-empty and must not contain ':'")
    label = f"{quote(issuer, safe='')}:{quote(account_label, safe='')}"
    query = urlencode(
        {
            "secret": _WHITESPACE.sub("", secret).upper().rstrip("="),
            "issuer": issuer,
            "algorithm": algorithm.upper(),
            "digits": str(digits),
            "period": str(period),
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def verify_totp(
    secret: str,
    code: str,
    at: datetime,
    *,
    window: int = 1,
    last_used_step: int | None,
    digits: int = DIGITS,
    period: int = PERIOD,
    algorithm: Algorithm = "sha1",
) -> int | None:
    """The time step that ``code`` matches, or None.

    Steps ``T - window .. T + window`` are tried (RFC 6238 §5.2, §6); steps at or before
    ``last_used_step`` are never accepted (replay, RFC 6238 §5.2). Every candidate is
    compared in constant time and all are compared, whichever matches. When several steps
    match, the earliest acceptable one is answered. Whitespace in ``code`` is ignored.
    """
    if window < 0:
        raise ValueError("window must not be negative")
    key = decode_secret(secret)
    candidate = _WHITESPACE.sub("", code)
    if len(candidate) != digits or not candidate.isascii() or not candidate.isdigit():
        return None
    current = time_step(at, period=period)
    matched: int | None = None
    for step in range(current - window, current + window + 1):
        if step < 0 or (last_used_step is not None and step <= last_used_step):
            continue
        expected = hotp(key, step, digits=digits, algorithm=algorithm)
        if hmac.compare_digest(expected, candidate) and matched is None:
            matched = step
    return matched
