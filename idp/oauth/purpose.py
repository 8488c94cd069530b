"""The purpose of an authorization request (用途): the ``purpose`` request parameter.

"凡是可以通过共享查询的数据 ... 授权用证": a client that asks to read a person's data from
another part of the service (a licence, say) states why, in words the person reads on the
consent page before agreeing. The purpose is

* an authorization request parameter ``purpose`` (RFC 6749 §3.1 allows extension
  parameters), 1 to 200 characters of text without control characters;
* required when any requested scope needs one (which scopes do is told by the packages
  that define them, through :class:`ScopeExtension`; the provider knows none itself);
* shown on the consent page, stored with the consent and with the grant, so that every
  use of a token of that grant is tied to the purpose the person agreed to; a remembered
  consent covers a new request only for the same purpose.

Plain functions; no HTTP and no storage here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import parse_qs

from core.identifiers.resident_id import holds_resident_id

PURPOSE_PARAMETER = "purpose"
MAX_PURPOSE_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ScopeExtension(Protocol):
    """Scopes defined outside the provider (``licence:read:<type>``, ...)."""

    def needs_purpose(self, scope: str) -> bool:
        """True when a request for ``scope`` must state its purpose."""
        ...

    def label(self, scope: str, lang: str) -> str | None:
        """The words for ``scope`` on the consent page in ``lang`` (None: not ours)."""
        ...


class InvalidPurpose(ValueError):
    """The ``purpose`` parameter is missing where required, or not acceptable text."""


def check_purpose(
    text: str | None, scopes: Sequence[str], extensions: Sequence[ScopeExtension]
) -> str | None:
    """The purpose, trimmed, or None when none was given and none is needed; raises
    :class:`InvalidPurpose` with a description for the ``error_description``."""
    if text is None or not text.strip():
        needing = [s for s in scopes if any(e.needs_purpose(s) for e in extensions)]
        if needing:
            raise InvalidPurpose(f"purpose is required for the scope {needing[0]}")
        if text is not None:
            raise InvalidPurpose("purpose is empty")
        return None
    value = text.strip()
    if len(value) > MAX_PURPOSE_LENGTH:
        raise InvalidPurpose(f"purpose is longer than {MAX_PURPOSE_LENGTH} characters")
    if _CONTROL.search(value):
        raise InvalidPurpose("purpose contains control characters")
    if holds_resident_id(value):  # the consent and every read under it are audited
        raise InvalidPurpose("purpose must not contain an ID number")
    return value


def requested_purpose(query: str) -> str | None:
    """The raw ``purpose`` of the authorization request ``query`` (None if absent); raises
    :class:`InvalidPurpose` when it is sent more than once (RFC 6749 §3.1)."""
    values = parse_qs(query, keep_blank_values=True).get(PURPOSE_PARAMETER, [])
    if len(values) > 1:
        raise InvalidPurpose("purpose is given more than once")
    return values[0] if values else None


def purpose_of_query(query: str) -> str | None:
    """The (already checked) purpose of the authorization request ``query``, trimmed."""
    values = parse_qs(query).get(PURPOSE_PARAMETER)
    if not values or not values[0].strip():
        return None
    return values[0].strip()


def scope_labels(
    extensions: Sequence[ScopeExtension], lang: str, scopes: Sequence[str], default: list[str]
) -> list[str]:
    """``default`` (the provider's own labels, one per scope) with the extensions' words
    for the scopes they define."""
    labels: list[str] = []
    for scope, fallback in zip(scopes, default, strict=True):
        found = next(
            (label for e in extensions if (label := e.label(scope, lang)) is not None), None
        )
        labels.append(found if found is not None else fallback)
    return labels
