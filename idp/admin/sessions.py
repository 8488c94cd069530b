"""Login sessions: listing a person's, and ending one together with what it issued.

Ending a session is a logout done by the person or an administrator instead of the
browser: the session can no longer authorize anything, every grant made in it is revoked
with its access and refresh tokens (RFC 7009 §2.1; RFC 9700 §4.14.2), so a refresh token
from it fails at once, and the clients that asked for it get a logout token (OpenID Connect
Back-Channel Logout 1.0), as after a browser logout (:mod:`idp.logout`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from idp.admin.errors import NotFound
from idp.logout import SessionNotFound, end_session_by_id
from idp.oauth.storage import GrantRow, LoginSessionRow, revoke_grant
from idp.provider import Provider

MAX_LISTED = 100
log = logging.getLogger("govtrust.idp.admin")


@dataclass(frozen=True)
class SessionInfo:
    public_id: str
    person_id: str
    auth_time: datetime
    acr: str
    amr: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    user_agent: str
    active: bool


def _info(row: LoginSessionRow, now: datetime) -> SessionInfo:
    return SessionInfo(
        public_id=row.public_id,
        person_id=row.person_id,
        auth_time=row.auth_time,
        acr=row.acr,
        amr=tuple(row.amr.split()),
        created_at=row.created_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        user_agent=row.user_agent,
        active=row.ended_at is None and row.expires_at > now,
    )


def sessions_of_person(provider: Provider, person_id: str) -> list[SessionInfo]:
    """The person's latest login sessions, newest first (ended and expired ones too);
    :class:`NotFound` for an unknown person."""
    now = provider.ctx.clock()
    with provider.ctx.sessions() as session:
        if provider.identities.person_by_id(session, person_id) is None:
            raise NotFound("person")
        rows = session.scalars(
            select(LoginSessionRow)
            .where(LoginSessionRow.person_id == person_id)
            .order_by(LoginSessionRow.created_at.desc(), LoginSessionRow.public_id)
            .limit(MAX_LISTED)
        )
        return [_info(row, now) for row in rows]


def revoke_grants(
    session: Session, now: datetime, reason: str, *criteria: ColumnElement[bool]
) -> int:
    """Revoke every live grant matching ``criteria`` with all it issued; returns how many."""
    grant_ids = list(
        session.scalars(select(GrantRow.id).where(GrantRow.revoked_at.is_(None), *criteria))
    )
    for grant_id in grant_ids:
        revoke_grant(session, grant_id, now, reason)
    return len(grant_ids)


def end_session(
    provider: Provider, public_id: str, *, actor: str, owner: str | None = None
) -> SessionInfo:
    """End the login session ``public_id`` as :func:`idp.logout.end_session_by_id` does.

    With ``owner`` (a person id), a session of anyone else is :class:`NotFound`, exactly
    like one that does not exist. Audit: ``session.ended``.
    """
    try:
        end_session_by_id(provider, public_id, actor=actor, owner=owner)
    except SessionNotFound as exc:
        raise NotFound("session") from exc
    with provider.ctx.sessions() as session:
        row = session.scalars(
            select(LoginSessionRow).where(LoginSessionRow.public_id == public_id)
        ).first()
        assert row is not None
        return _info(row, provider.ctx.clock())
