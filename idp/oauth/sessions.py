"""Login sessions: one login serves every client of every channel until it ends.

The browser holds a random session id in an HttpOnly cookie; only its keyed hash is stored.
``acr`` levels (this service's): ``urn:govtrust:loa:1`` password, ``urn:govtrust:loa:2``
two factors, ``urn:govtrust:loa:3`` passkey or certificate.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from idp.oauth.context import IdpContext
from idp.oauth.storage import LoginSessionRow

LOA_PASSWORD = "urn:govtrust:loa:1"  # noqa: S105 - an acr value
LOA_TWO_FACTOR = "urn:govtrust:loa:2"
LOA_STRONG = "urn:govtrust:loa:3"
LOA_ORDER = (LOA_PASSWORD, LOA_TWO_FACTOR, LOA_STRONG)
SESSION_COOKIE = "govtrust_session"


@dataclass(frozen=True)
class LoginSession:
    public_id: str
    person_id: str
    auth_time: datetime
    acr: str
    amr: tuple[str, ...]
    acting_organisation_id: str | None


def loa_at_least(acr: str, wanted: str) -> bool:
    if wanted not in LOA_ORDER:
        return False
    return acr in LOA_ORDER and LOA_ORDER.index(acr) >= LOA_ORDER.index(wanted)


def start_session(
    ctx: IdpContext,
    session: Session,
    person_id: str,
    acr: str,
    amr: tuple[str, ...],
    user_agent: str = "",
) -> tuple[str, LoginSession]:
    """Create a session; returns (cookie value, session)."""
    now = ctx.clock()
    cookie = secrets.token_urlsafe(32)
    public_id = secrets.token_hex(16)
    session.add(
        LoginSessionRow(
            id_hash=ctx.digest("session", cookie),
            public_id=public_id,
            person_id=person_id,
            auth_time=now,
            acr=acr,
            amr=" ".join(amr),
            created_at=now,
            expires_at=now + ctx.lifetimes.login_session,
            user_agent=user_agent[:200],
        )
    )
    session.flush()
    return cookie, LoginSession(public_id, person_id, now, acr, amr, None)


def find_session(ctx: IdpContext, session: Session, cookie: str | None) -> LoginSession | None:
    if not cookie:
        return None
    row = session.get(LoginSessionRow, ctx.digest("session", cookie))
    if row is None or row.ended_at is not None or row.expires_at <= ctx.clock():
        return None
    return LoginSession(
        row.public_id,
        row.person_id,
        row.auth_time,
        row.acr,
        tuple(row.amr.split()),
        row.acting_organisation_id,
    )


def end_session(ctx: IdpContext, session: Session, cookie: str | None) -> str | None:
    """End the session; returns its public id (for back-channel logout) if there was one."""
    if not cookie:
        return None
    row = session.get(LoginSessionRow, ctx.digest("session", cookie))
    if row is None or row.ended_at is not None:
        return None
    row.ended_at = ctx.clock()
    return row.public_id
