"""Who a token is about: a person, possibly acting for an organisation (RFC 8693 ``act``)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Principal:
    person_id: str
    subject: str  # the person's opaque, stable identifier: never the ID number
    grant_id: str
    auth_time: datetime | None = None
    acr: str | None = None
    amr: tuple[str, ...] = ()
    organisation_id: str | None = None
    organisation_subject: str | None = None
    session_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def get_user_id(self) -> str:  # Authlib's user protocol
        return self.person_id


def pairwise_subject(key: bytes, sector: str, subject: str) -> str:
    """OpenID Connect Core §8.1: a per-sector identifier no two sectors can correlate."""
    return hmac.new(key, f"pairwise\x00{sector}\x00{subject}".encode(), hashlib.sha256).hexdigest()
