"""Mainland China mobile numbers: normalise, validate, mask.

Numbering follows the MIIT telecommunications numbering plan (《电信网编号计划》): a mobile
number has 11 digits, ``1`` then ``3``-``9`` then 9 more. The country code is 86 (ITU-T
E.164). A number is personal data: show only ``138****5678``
(the masking used across government service portals, first 3 and last 4 digits).
"""

from __future__ import annotations

import re

from idp.identities.errors import InvalidPhone

__all__ = ["is_valid_phone", "mask_phone", "normalise_phone"]

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# Full-width ASCII forms (U+FF01..U+FF5E) -> ASCII.
_FULLWIDTH = str.maketrans({chr(0xFF01 + i): chr(0x21 + i) for i in range(94)})
# Separators people type inside a number: spaces of any kind, hyphens and dashes.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
_COUNTRY_PREFIXES = ("+86", "0086", "86")


def normalise_phone(text: str) -> str:
    """The 11 digits of a mainland mobile number, or :class:`InvalidPhone`.

    Accepts full-width digits, spaces and dashes anywhere, and the country code as
    ``+86``, ``0086`` or ``86`` in front (E.164 country code 86). The error never
    contains the input.
    """
    value = _SEPARATORS.sub("", text.translate(_FULLWIDTH))
    if len(value) > 11:
        for prefix in _COUNTRY_PREFIXES:
            if value.startswith(prefix):
                value = value[len(prefix) :]
                break
    if not _MOBILE.fullmatch(value):
        raise InvalidPhone()
    return value


def is_valid_phone(text: str) -> bool:
    """True when :func:`normalise_phone` accepts ``text``."""
    try:
        normalise_phone(text)
    except InvalidPhone:
        return False
    return True


def mask_phone(text: str) -> str:
    """``138****5678``: first 3 and last 4 digits of the normalised number."""
    value = normalise_phone(text)
    return f"{value[:3]}****{value[7:]}"
