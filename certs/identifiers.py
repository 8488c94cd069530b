"""Licence identifiers in the GB/T 36904 shape, with an ISO 7064 MOD 37,36 check character.

An electronic licence identifier (GB/T 36904 电子证照标识) is an OID-style text::

    1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>

* ``1.2.156.3005.2``: the fixed prefix of electronic licence identifiers;
* type code: 21 characters, the unified social credit code (GB 32100-2015) of the
  ministry that defines the licence type plus a 3-digit number (``11100000000013338W032``);
* issuer: the issuing authority's unified social credit code;
* serial: the issuer's own serial of the licence, kept across its versions (here ``0-9A-Z``);
* version: 3 digits, ``001``-``999``, one more on every change, reissue and renewal;
* check: one character of ``0-9A-Z`` by ISO 7064:2003 MOD 37,36 (the hybrid system with
  M = 36, M + 1 = 37) over type code + issuer + serial + version concatenated *without*
  dots and without the fixed prefix.

Real example: ``1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F``.
Parsing is strict (upper-case ASCII, no spaces): an identifier is machine-made and compared
as text, so any changed character is refused rather than normalised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors.problem import ProblemError
from core.identifiers.errors import InvalidIdentifier
from core.identifiers.uscc import parse_uscc

__all__ = [
    "ALPHABET",
    "PREFIX",
    "InvalidLicenceIdentifier",
    "LicenceIdentifier",
    "check_type_code",
    "licence_identifier",
    "mod37_36_check",
    "parse_licence_identifier",
]

PREFIX = "1.2.156.3005.2"
"""The fixed arc of electronic licence identifiers (GB/T 36904); not covered by the check."""
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
"""ISO 7064 MOD 37,36 character set: a character's value is its index (0-35)."""
_VALUES = {c: i for i, c in enumerate(ALPHABET)}
MAX_SERIAL_LENGTH = 32
MAX_VERSION = 999
_SERIAL = re.compile(r"[0-9A-Z]{1,32}")
_VERSION = re.compile(r"[0-9]{3}")
_TYPE_SUFFIX = re.compile(r"[0-9]{3}")


class InvalidLicenceIdentifier(ProblemError, ValueError):
    """The text is not a well-formed licence identifier; ``reason`` says which part failed.

    ``reason`` is one of ``shape``, ``prefix``, ``type_code``, ``issuer``, ``serial``,
    ``version``, ``check``. The message never repeats the input.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(
            422,
            "invalid-licence-identifier",
            "Not a valid licence identifier",
            f"the {reason.replace('_', ' ')} is not valid (GB/T 36904)",
            reason=reason,
        )
        self.reason = reason


def mod37_36_check(data: str) -> str:
    """The ISO 7064 MOD 37,36 check character of ``data`` (characters ``0-9A-Z``).

    Pure hybrid system (ISO 7064:2003 §7): ``p = 36``; for each character value ``v``:
    ``p = (p + v) mod 36`` with 0 taken as 36, then ``p = 2p mod 37``; the check character
    is ``ALPHABET[(37 - p) mod 36]``. Raises :class:`ValueError` for any other character.
    """
    if not data:
        raise ValueError("mod37_36_check() needs at least one character")
    p = 36
    for char in data:
        value = _VALUES.get(char)
        if value is None:
            raise ValueError("mod37_36_check() accepts 0-9 and A-Z only")
        p = (p + value) % 36
        if p == 0:
            p = 36
        p = (2 * p) % 37
    return ALPHABET[(37 - p) % 36]


def check_type_code(type_code: str) -> str:
    """Validate a 21-character licence type code: a defining ministry's USCC (GB 32100-2015,
    check character included) followed by 3 digits. Returns it; raises
    :class:`InvalidLicenceIdentifier` with reason ``type_code``."""
    if len(type_code) != 21 or not _TYPE_SUFFIX.fullmatch(type_code[18:]):
        raise InvalidLicenceIdentifier("type_code")
    if not _is_uscc(type_code[:18]):
        raise InvalidLicenceIdentifier("type_code")
    return type_code


def _is_uscc(text: str) -> bool:
    try:
        return parse_uscc(text).value == text
    except InvalidIdentifier:
        return False


def _check_parts(type_code: str, issuer: str, serial: str, version: str) -> None:
    check_type_code(type_code)
    if not _is_uscc(issuer):
        raise InvalidLicenceIdentifier("issuer")
    if not _SERIAL.fullmatch(serial):
        raise InvalidLicenceIdentifier("serial")
    if not _VERSION.fullmatch(version) or version == "000":
        raise InvalidLicenceIdentifier("version")


@dataclass(frozen=True, slots=True)
class LicenceIdentifier:
    """The parts of a licence identifier (GB/T 36904). ``version`` is the 3-digit text."""

    type_code: str
    issuer: str
    serial: str
    version: str
    check: str

    @property
    def version_number(self) -> int:
        return int(self.version)

    def __str__(self) -> str:
        return ".".join(
            (PREFIX, self.type_code, self.issuer, self.serial, self.version, self.check)
        )


def licence_identifier(type_code: str, issuer_uscc: str, serial: str, version: int) -> str:
    """Build the identifier of one licence version (GB/T 36904 shape, MOD 37,36 check).

    Raises :class:`InvalidLicenceIdentifier` for a bad part; ``version`` is 1-999.
    """
    if not 1 <= version <= MAX_VERSION:
        raise InvalidLicenceIdentifier("version")
    version_text = f"{version:03d}"
    _check_parts(type_code, issuer_uscc, serial, version_text)
    check = mod37_36_check(type_code + issuer_uscc + serial + version_text)
    return str(LicenceIdentifier(type_code, issuer_uscc, serial, version_text, check))


def parse_licence_identifier(text: str) -> LicenceIdentifier:
    """Parse and fully validate a licence identifier: the fixed prefix, the type code (a valid
    USCC + 3 digits), the issuer USCC's own check character (GB 32100-2015), the serial, the
    version (001-999) and the MOD 37,36 check character (ISO 7064)."""
    if not text.startswith(PREFIX + "."):
        raise InvalidLicenceIdentifier("prefix")
    parts = text[len(PREFIX) + 1 :].split(".")
    if len(parts) != 5:
        raise InvalidLicenceIdentifier("shape")
    type_code, issuer, serial, version, check = parts
    _check_parts(type_code, issuer, serial, version)
    if len(check) != 1 or check != mod37_36_check(type_code + issuer + serial + version):
        raise InvalidLicenceIdentifier("check")
    return LicenceIdentifier(type_code, issuer, serial, version, check)
