"""Unified social credit code for legal persons and other organisations, GB 32100-2015.

18 characters (GB 32100-2015, code structure): registration management department code (1),
organisation category code (1), registration authority administrative division code
(6, GB/T 2260), the organisation's GB 11714 code including its own check character
(9), and a check character (1) C18 = 31 - MOD(sum(Ci * Wi), 31) over the 31-character
alphabet ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (no I, O, S, V, Z).

A USCC is printed on business licences and is public data: no masking is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.identifiers.errors import InvalidIdentifier

__all__ = ["ALPHABET", "Uscc", "check_character", "is_valid_uscc", "parse_uscc"]

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""GB 32100-2015 Table 1 code character set; a character's value is its index."""
_VALUES = {c: i for i, c in enumerate(ALPHABET)}
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
"""GB 32100-2015 check-code weighting factors W_i = 3^(i-1) mod 31: 1 3 9 27 19 26 ... 28."""

# Full-width ASCII forms (U+FF01..U+FF5E) -> ASCII, then ASCII a-z -> A-Z only
# (str.upper() would also touch non-ASCII letters and may change the length).
_FULLWIDTH = str.maketrans({chr(0xFF01 + i): chr(0x21 + i) for i in range(94)})
_ASCII_UPPER = str.maketrans({chr(c): chr(c - 32) for c in range(ord("a"), ord("z") + 1)})


def check_character(first17: str) -> str:
    """Return the check character for the first 17 characters (GB 32100-2015, check code).

    ``C18 = 31 - (sum(C_i * W_i) mod 31)``, with 31 mapped to 0. Raises
    :class:`ValueError` unless given 17 characters from :data:`ALPHABET`.
    """
    if len(first17) != 17 or not all(c in _VALUES for c in first17):
        raise ValueError("check_character() needs exactly 17 code-set characters")
    total = sum(_VALUES[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def _normalise(text: str) -> str:
    return text.translate(_FULLWIDTH).strip().translate(_ASCII_UPPER)


def _validate(value: str) -> None:
    if len(value) != 18:
        raise InvalidIdentifier("uscc", "length")
    if not all(c in _VALUES for c in value):
        raise InvalidIdentifier("uscc", "charset")
    if check_character(value[:17]) != value[17]:
        raise InvalidIdentifier("uscc", "check")


@dataclass(frozen=True, slots=True)
class Uscc:
    """A validated unified social credit code (GB 32100-2015).

    Build instances with :func:`parse_uscc`; direct construction requires an
    already-normalised (upper-case ASCII) value and validates it.
    """

    value: str

    def __post_init__(self) -> None:
        _validate(self.value)

    @property
    def registration_authority(self) -> str:
        """Registration management department code, character 1 (GB 32100-2015; e.g. ``9``)."""
        return self.value[0]

    @property
    def entity_type(self) -> str:
        """Organisation category code, character 2 (GB 32100-2015)."""
        return self.value[1]

    @property
    def region_code(self) -> str:
        """Registration authority administrative division code, characters 3-8 (GB/T 2260)."""
        return self.value[2:8]

    @property
    def organization_code(self) -> str:
        """GB 11714 organisation code incl. its own check character, characters 9-17 (GB 11714)."""
        return self.value[8:17]

    def __str__(self) -> str:
        return self.value


def parse_uscc(text: str) -> Uscc:
    """Parse and validate a unified social credit code (GB 32100-2015).

    Whitespace is stripped, full-width characters converted, letters upper-cased.
    Raises :class:`InvalidIdentifier` with reason ``length``, ``charset`` (I, O, S,
    V, Z and anything outside :data:`ALPHABET`) or ``check`` (check-code formula).
    """
    value = _normalise(text)
    _validate(value)
    return Uscc(value)


def is_valid_uscc(text: str) -> bool:
    """True if :func:`parse_uscc` accepts ``text``."""
    try:
        parse_uscc(text)
    except InvalidIdentifier:
        return False
    return True
