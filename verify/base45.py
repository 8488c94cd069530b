"""Base45 (RFC 9285): bytes as characters of the QR code alphanumeric mode.

Two bytes become three characters (§4), a trailing byte two; the 45 characters are those a
QR code stores in alphanumeric mode at 5.5 bits each (§3), so a payload costs about 8.25
bits a byte in the symbol instead of 8 bits a byte plus the byte-mode overhead.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUES = {character: value for value, character in enumerate(ALPHABET)}


class Base45Error(ValueError):
    """The text is not base45 (RFC 9285 §6: invalid characters, length or values)."""


def b45encode(data: bytes) -> str:
    """RFC 9285 §4: each pair of bytes ``a, b`` as ``n = a * 256 + b`` written with three
    base-45 digits, least significant first; a last single byte with two."""
    out: list[str] = []
    for start in range(0, len(data) - 1, 2):
        value = data[start] * 256 + data[start + 1]
        value, c = divmod(value, 45)
        e, d = divmod(value, 45)
        out += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        e, c = divmod(data[-1], 45)
        out += (ALPHABET[c], ALPHABET[e])
    return "".join(out)


_DIGITS = str.maketrans({character: chr(value) for value, character in enumerate(ALPHABET)})
_ALPHABET_SET = frozenset(ALPHABET)


def b45decode(text: str) -> bytes:
    """RFC 9285 §4.2, refusing (§6) characters outside the alphabet, a length of 1 mod 3,
    and triples or pairs whose value does not fit in two bytes or one."""
    if len(text) % 3 == 1:
        raise Base45Error("base45 text cannot have a length of 1 modulo 3")
    if not _ALPHABET_SET.issuperset(text):
        bad = next(character for character in text if character not in _VALUES)
        raise Base45Error(f"{bad!r} is not a base45 character")
    digits = text.translate(_DIGITS).encode("ascii")
    out = bytearray()
    whole = len(digits) - len(digits) % 3
    for start in range(0, whole, 3):
        value = digits[start] + digits[start + 1] * 45 + digits[start + 2] * 2025
        if value > 0xFFFF:
            raise Base45Error("a base45 triple encodes more than two bytes")
        out += value.to_bytes(2, "big")
    if whole < len(digits):
        value = digits[whole] + digits[whole + 1] * 45
        if value > 0xFF:
            raise Base45Error("a base45 pair encodes more than one byte")
        out.append(value)
    return bytes(out)
