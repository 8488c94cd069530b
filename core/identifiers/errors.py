"""Errors raised by the identifier parsers and the identifier protector.

Identifier values (resident ID numbers in particular) are personal data, so no
error defined here ever carries the offending input in its message, its ``args``
or its attributes: only the identifier *kind* and a short machine *reason* code.
"""

from __future__ import annotations

from typing import Literal

IdentifierKind = Literal["resident_id", "uscc"]
"""``resident_id`` (GB 11643-1999) or ``uscc`` (GB 32100-2015)."""

InvalidReason = Literal["length", "charset", "check", "birth_date", "region"]
"""Machine code for why an identifier was rejected."""

_KIND_LABELS: dict[str, str] = {
    "resident_id": "resident ID number (GB 11643-1999)",
    "uscc": "unified social credit code (GB 32100-2015)",
}

_REASON_TEXT: dict[str, str] = {
    "length": "must be exactly 18 characters",
    "charset": "contains a character outside the permitted character set",
    "check": "check character does not match",
    "birth_date": "birth date is not a plausible calendar date",
    "region": "administrative division code is not a valid province-level code",
}


class InvalidIdentifier(ValueError):
    """An identifier failed validation.

    ``kind`` is ``"resident_id"`` or ``"uscc"``; ``reason`` is one of ``"length"``,
    ``"charset"``, ``"check"``, ``"birth_date"``, ``"region"``. The message is built
    only from those two codes and therefore never contains the rejected value.
    """

    kind: IdentifierKind
    reason: InvalidReason

    def __init__(self, kind: IdentifierKind, reason: InvalidReason) -> None:
        self.kind = kind
        self.reason = reason
        label = _KIND_LABELS.get(kind, "identifier")
        text = _REASON_TEXT.get(reason, "is invalid")
        super().__init__(f"invalid {label}: {text} ({reason})")

    def __reduce__(self) -> tuple[type[InvalidIdentifier], tuple[IdentifierKind, InvalidReason]]:
        return (type(self), (self.kind, self.reason))


class IdentifierDecryptionError(Exception):
    """A protected identifier blob could not be decrypted.

    Raised for an unknown format version, an unknown key id, a blob bound to a
    different identifier kind, truncation or any tampering (AES-GCM tag failure,
    NIST SP 800-38D). The message never contains key material or plaintext.
    """
