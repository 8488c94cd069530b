"""Who a token is about: a person, possibly acting for an organisation (RFC 8693 ``act``)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


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


class GrantFields(Protocol):
    """What a grant's row says of its person (``idp.oauth.storage.GrantRow``'s columns)."""

    @property
    def id(self) -> str: ...
    @property
    def person_id(self) -> str | None: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def auth_time(self) -> datetime | None: ...
    @property
    def acr(self) -> str | None: ...
    @property
    def amr(self) -> str: ...
    @property
    def organisation_id(self) -> str | None: ...
    @property
    def organisation_subject(self) -> str | None: ...
    @property
    def session_id(self) -> str | None: ...


def principal_of_grant(grant: GrantFields) -> Principal | None:
    """The person a grant's tokens are about; None for a grant without one."""
    if not grant.person_id:
        return None
    return Principal(
        person_id=grant.person_id,
        subject=grant.subject or "",
        grant_id=grant.id,
        auth_time=grant.auth_time,
        acr=grant.acr,
        amr=tuple(grant.amr.split()) if grant.amr else (),
        organisation_id=grant.organisation_id,
        organisation_subject=grant.organisation_subject,
        session_id=grant.session_id,
    )


def pairwise_subject(key: bytes, sector: str, subject: str) -> str:
    """OpenID Connect Core §8.1: a per-sector identifier no two sectors can correlate."""
    return hmac.new(key, f"pairwise\x00{sector}\x00{subject}".encode(), hashlib.sha256).hexdigest()
