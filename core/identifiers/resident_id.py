"""Citizen (resident) identification number, GB 11643-1999.

An 18-character number: 6-digit address code (GB/T 2260 administrative division),
8-digit birth date ``YYYYMMDD``, 3-digit sequence code (odd = male, even = female)
and one check character computed with ISO 7064:1983 MOD 11-2 (GB 11643-1999 §5.1-§5.5).

The number is personal data: :class:`ResidentId` prints only its masked form and
:func:`redact_resident_ids` masks ID-shaped substrings in free text for logging.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from core.identifiers.errors import InvalidIdentifier

__all__ = [
    "ResidentId",
    "check_digit",
    "is_valid_resident_id",
    "parse_resident_id",
    "redact_resident_ids",
]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
"""GB 11643-1999 §5.5 / ISO 7064 MOD 11-2: W_i = 2^(i-1) mod 11, i counted from the right."""
_CHECK_CHARS = "10X98765432"
_DIGITS = frozenset("0123456789")
_MIN_BIRTH_DATE = date(1900, 1, 1)
_PROVINCE_CODES = frozenset(
    [
        *range(11, 16),
        *range(21, 24),
        *range(31, 38),
        *range(41, 47),
        *range(50, 55),
        *range(61, 66),
        71,
        81,
        82,
        83,
    ]
)
"""First two digits of GB/T 2260 province-level codes; 81/82/83 are the codes used
by residence permits for Hong Kong, Macao and Taiwan residents."""

# Full-width ASCII forms (U+FF01..U+FF5E) -> ASCII (U+0021..U+007E).
_FULLWIDTH = str.maketrans({chr(0xFF01 + i): chr(0x21 + i) for i in range(94)})

_FW_DIGITS = "\uff10-\uff19"
_ALNUM = f"0-9A-Za-z{_FW_DIGITS}\uff21-\uff3a\uff41-\uff5a"
# Preceded by anything but a digit (a label glued to the number, "ID110105...", is still
# masked); followed by anything but a letter or digit.
_ID_SHAPE = re.compile(
    rf"(?<![0-9{_FW_DIGITS}])[0-9{_FW_DIGITS}]{{17}}[0-9{_FW_DIGITS}Xx\uff38\uff58](?![{_ALNUM}])"
)


def check_digit(first17: str) -> str:
    """Return the MOD 11-2 check character for the first 17 digits (GB 11643-1999 §5.5).

    ``sum(a_i * W_i) mod 11`` indexes ``"10X98765432"``. Raises :class:`ValueError`
    (without echoing the input) unless given exactly 17 ASCII digits.
    """
    if len(first17) != 17 or not _DIGITS.issuperset(first17):
        raise ValueError("check_digit() needs exactly 17 ASCII digits")
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def _normalise(text: str) -> str:
    return text.translate(_FULLWIDTH).strip().replace("x", "X")


def _birth_date_or_none(value: str) -> date | None:
    """Birth date from digits 7-14 (GB 11643-1999 §5.3, GB/T 7408 ``YYYYMMDD``)."""
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def _validate(value: str, today: date | None) -> None:
    """Validate a normalised value; ``today=None`` skips the not-in-the-future test."""
    if len(value) != 18:
        raise InvalidIdentifier("resident_id", "length")
    if not _DIGITS.issuperset(value[:17]) or value[17] not in _DIGITS | {"X"}:
        raise InvalidIdentifier("resident_id", "charset")
    if check_digit(value[:17]) != value[17]:
        raise InvalidIdentifier("resident_id", "check")
    born = _birth_date_or_none(value)
    if born is None or born < _MIN_BIRTH_DATE or (today is not None and born > today):
        raise InvalidIdentifier("resident_id", "birth_date")
    if int(value[:2]) not in _PROVINCE_CODES:
        raise InvalidIdentifier("resident_id", "region")


def _mask(value: str) -> str:
    return f"{value[:6]}{'*' * 8}{value[14:]}"


@dataclass(frozen=True, slots=True, repr=False)
class ResidentId:
    """A validated 18-character resident ID number (GB 11643-1999).

    ``value`` holds the normalised clear number; ``repr()``/``str()`` give only the
    masked form. Build instances with :func:`parse_resident_id`; direct construction
    requires an already-normalised value and validates it (except against "today").
    """

    value: str

    def __post_init__(self) -> None:
        _validate(self.value, None)

    @property
    def region_code(self) -> str:
        """Address code, digits 1-6 (GB 11643-1999 §5.2, GB/T 2260)."""
        return self.value[:6]

    @property
    def birth_date(self) -> date:
        """Birth date, digits 7-14 (GB 11643-1999 §5.3)."""
        born = _birth_date_or_none(self.value)
        assert born is not None  # guaranteed by __post_init__
        return born

    @property
    def sex(self) -> Literal["male", "female"]:
        """Sex from the 17th digit: odd male, even female (GB 11643-1999 §5.4)."""
        return "male" if int(self.value[16]) % 2 == 1 else "female"

    def masked(self) -> str:
        """First 6 and last 4 characters, birth date replaced: ``110105********002X``."""
        return _mask(self.value)

    def __repr__(self) -> str:
        return self.masked()

    def __str__(self) -> str:
        return self.masked()


def parse_resident_id(text: str, *, today: date | None = None) -> ResidentId:
    """Parse and validate a resident ID number (GB 11643-1999).

    Whitespace is stripped, full-width digits/``X`` are converted and ``x`` is
    upper-cased. Raises :class:`InvalidIdentifier` with reason ``length``,
    ``charset`` (digits only, ``X`` only last), ``check`` (§5.5 MOD 11-2),
    ``birth_date`` (not a calendar date, before 1900-01-01 or after ``today``,
    default :meth:`date.today`) or ``region`` (unknown province-level code).
    """
    value = _normalise(text)
    _validate(value, today if today is not None else date.today())
    return ResidentId(value)


def is_valid_resident_id(text: str) -> bool:
    """True if :func:`parse_resident_id` accepts ``text`` (checked against today)."""
    try:
        parse_resident_id(text)
    except InvalidIdentifier:
        return False
    return True


# A valid number standing alone among ASCII letters, digits and dots: what the audit trail
# refuses in an entry's canonical JSON (:func:`holds_valid_resident_id`).
_STANDING_ALONE = re.compile(r"(?<![0-9A-Za-z.])\d{17}[\dXx](?![0-9A-Za-z.])")


def holds_valid_resident_id(text: str) -> bool:
    """Whether ``text`` holds a valid resident ID number (check digit, date, region) not
    glued to an ASCII letter, digit or dot: other 18-digit codes (an OID arc, an order
    number) are not refused for their shape alone. The audit trail refuses such an entry."""
    for match in _STANDING_ALONE.finditer(text):
        try:
            ResidentId(match.group(0).upper())
        except InvalidIdentifier:
            continue
        return True
    return False


def holds_resident_id(text: str) -> bool:
    """Whether ``text`` holds something shaped like a resident ID number, as
    :func:`redact_resident_ids` finds them (a mistyped one too), or a valid one as the audit
    trail finds them (:func:`holds_valid_resident_id`; glued to a full-width letter, say).
    Free text that goes into the audit trail (a reason, a purpose) must not: it is refused
    where it is typed, and never accepted there only to be refused by every entry after."""
    return _ID_SHAPE.search(text) is not None or holds_valid_resident_id(text)


def redact_resident_ids(text: str) -> str:
    """Mask every substring shaped like an 18-character resident ID number.

    Shape (GB 11643-1999 §5.1): 17 digits then a digit or ``X``/``x`` (full-width
    forms included), not preceded or followed by an ASCII/full-width letter or
    digit. The check character is deliberately *not* verified, so mistyped
    numbers are masked too; CJK text around the number does not prevent masking.
    """
    return _ID_SHAPE.sub(lambda m: _mask(_normalise(m.group(0))), text)
