"""How the versions of one licence follow each other, and what a new licence is numbered.

All versions of a licence share its type, issuing authority, serial and licence number; the
version number (3 digits in the GB/T 36904 identifier) goes up by one on each change, reissue
(补发) and renewal, which gives the new version a new identifier and check character
(ISO 7064 MOD 37,36). The GB/T 36903 holder metadata is carried over unchanged.
"""

from __future__ import annotations

from datetime import date

from certs.errors import InvalidLicenceInput
from certs.identifiers import MAX_VERSION, licence_identifier
from certs.storage import LicenceRow
from core.identifiers.errors import InvalidIdentifier
from core.identifiers.uscc import parse_uscc

MAX_NAME_LENGTH = 200
SERIAL_DIGITS = 7


def check_name(text: str, what: str) -> str:
    """A holder's or authority's name: 1 to 200 characters after trimming."""
    value = text.strip()
    if not value or len(value) > MAX_NAME_LENGTH:
        raise InvalidLicenceInput(
            "invalid-licence-name", f"The {what} is not valid", f"1 to {MAX_NAME_LENGTH} chars"
        )
    return value


AUTHORITY_CODE_PREFIXES = ("11", "12")
"""GB 32100-2015 §4: the registration authority code (character 1) ``1`` is 机构编制, and
its organisation category (character 2) ``1`` 机关 (government organs) or ``2`` 事业单位
(public institutions). Only such organisations issue licences; an enterprise (``9``) or a
social organisation (``5``) never does, whoever represents it."""


def is_issuing_authority(uscc: str) -> bool:
    return uscc[:2] in AUTHORITY_CODE_PREFIXES


def check_issuer(text: str) -> str:
    """The issuing authority's USCC (GB 32100-2015), normalised: a valid code of a
    government organ or public institution."""
    try:
        value = parse_uscc(text).value
    except InvalidIdentifier:
        raise InvalidLicenceInput(
            "invalid-issuer", "The issuing authority's code is not a valid USCC"
        ) from None
    if not is_issuing_authority(value):
        raise InvalidLicenceInput(
            "issuer-not-an-authority",
            "Only a government organ or public institution issues licences",
            "GB 32100: not a 机构编制 机关 or 事业单位 code",
        )
    return value


def serial_text(number: int) -> str:
    """The identifier serial of the ``number``-th licence of a type and issuer."""
    return f"{number:0{SERIAL_DIGITS}d}"


def licence_number(type_code: str, issuer_uscc: str, serial: str) -> str:
    """The number printed on paper: the type's 3 digits, the issuer's administrative
    division code (USCC characters 3-8, GB/T 2260) and the serial; unique per type and
    issuer because the serial is."""
    return f"{type_code[-3:]}{issuer_uscc[2:8]}{serial}"


def next_version_row(old: LicenceRow, issued_on: date, holder_name: str | None) -> LicenceRow:
    """The row of the version after ``old``: same content, version + 1, supersedes ``old``."""
    if old.version >= MAX_VERSION:
        raise InvalidLicenceInput("licence-version-limit", "No further version is possible")
    version = old.version + 1
    return LicenceRow(
        identifier=licence_identifier(old.type_code, old.issuer_uscc, old.serial, version),
        licence_number=old.licence_number,
        type_code=old.type_code,
        serial=old.serial,
        version=version,
        issuer_uscc=old.issuer_uscc,
        issuer_name=old.issuer_name,
        holder_name=old.holder_name if holder_name is None else check_name(holder_name, "name"),
        holder_code_type=old.holder_code_type,
        holder_code_index=old.holder_code_index,
        holder_code_encrypted=old.holder_code_encrypted,
        holder_code=old.holder_code,
        holder_code_masked=old.holder_code_masked,
        fields=dict(old.fields),
        issued_on=issued_on,
        valid_from=old.valid_from,
        valid_until=old.valid_until,
        supersedes=old.identifier,
    )


def renewal_end(old_valid_until: date | None, valid_until: date, today: date) -> date:
    """延续: the new last valid day must be after today and after the current last day; a
    long-term licence is not renewed."""
    if old_valid_until is None:
        raise InvalidLicenceInput("licence-long-term", "A long-term licence is not renewed")
    if valid_until <= max(today, old_valid_until):
        raise InvalidLicenceInput(
            "invalid-renewal", "The renewal must end after today and after the current validity"
        )
    return valid_until
