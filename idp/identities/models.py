"""The identity domain's values: persons, organisations and representations.

A :class:`Person` is keyed on the resident ID number (GB 11643-1999) but never carries it:
only its masked form (first 6 and last 4 characters) and an opaque random ``subject``, the
OIDC ``sub`` (OpenID Connect Core 1.0 §2: locally unique, never reassigned; here also never
derived from the number, as DESIGN.md requires). An :class:`Organisation` is keyed on its
unified social credit code (GB 32100-2015), which is public. A :class:`Representation` says
that a person may act for an organisation: as its legal representative (法定代表人, every
scope) or as an agent (经办人/代理人) with the scopes the legal representative granted, for
a period, until revoked.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Status = Literal["active", "disabled"]
Role = Literal["legal_representative", "agent"]

ALL_SCOPES = "*"
"""The scope of a legal representative: everything the organisation may do."""

NAME_MAX_LENGTH = 200

# Variants of the separator in transcribed minority and foreign names (艾力·买买提):
# U+00B7 is the one GB 18030 forms use; the others are common look-alikes.
_NAME_DOTS = str.maketrans(dict.fromkeys("\u2022\u2027\u30fb\uff65\u2219\u22c5", "\u00b7"))


def normalise_name(text: str) -> str:
    """A name as compared and stored: NFKC, one kind of middle dot, single spaces.

    NFKC (Unicode UAX #15) folds full-width forms; the separator of transcribed names is
    unified to U+00B7. Raises :class:`ValueError` (without the name) when the result is
    empty, longer than :data:`NAME_MAX_LENGTH` or holds control/format characters.
    """
    value = " ".join(unicodedata.normalize("NFKC", text).translate(_NAME_DOTS).split())
    if not value or len(value) > NAME_MAX_LENGTH:
        raise ValueError("a name must be 1-200 characters")
    if any(unicodedata.category(c)[0] == "C" for c in value):
        raise ValueError("a name must not contain control or format characters")
    return value


@dataclass(frozen=True)
class Person:
    """A natural person. ``id`` is internal; ``subject`` is what relying parties see."""

    id: str
    subject: str
    name: str
    id_number_masked: str
    phone_masked: str | None
    status: Status
    created_at: datetime


@dataclass(frozen=True)
class Organisation:
    """A legal person or other organisation, identified by its USCC (GB 32100-2015)."""

    id: str
    uscc: str
    name: str
    status: Status
    created_at: datetime


@dataclass(frozen=True)
class Representation:
    """That ``person_id`` may act for ``organisation_id`` with ``scopes``.

    The legal representative holds ``("*",)``; an agent holds what was granted (e.g.
    ``"licence:read"``, ``"seal:use"``). Valid from ``valid_from`` (inclusive) until
    ``valid_until`` and ``revoked_at`` (both exclusive), so a revocation takes effect at
    the moment it is recorded.
    """

    id: str
    organisation_id: str
    person_id: str
    role: Role
    scopes: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime | None
    granted_by: str | None
    revoked_at: datetime | None

    def is_valid_at(self, moment: datetime) -> bool:
        """True when the representation may be relied on at ``moment``."""
        if moment < self.valid_from:
            return False
        if self.valid_until is not None and moment >= self.valid_until:
            return False
        return self.revoked_at is None or moment < self.revoked_at

    def allows(self, scope: str) -> bool:
        """True when ``scope`` is among the granted scopes (or all were granted)."""
        return ALL_SCOPES in self.scopes or scope in self.scopes
