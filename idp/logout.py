"""Ending a login session: RP-Initiated Logout 1.0, Back-Channel Logout 1.0, and the
person's or an administrator's "end this session".

Ending a session revokes every grant made in it (their refresh and access tokens; RFC 7009
§2.1, RFC 9700 §4.14.2), then tells every client that had one and registered a
``backchannel_logout_uri`` with a signed logout token (Back-Channel Logout §2.4:
``typ: logout+jwt``, ``events``, ``sid``, no ``nonce``). A failed delivery is logged and
never undoes the logout (§2.8).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from core.audit.entry import AuditEvent
from core.db.engine import transaction
from idp.oauth import jws
from idp.oauth.access_tokens import token_keys
from idp.oauth.principal import Principal, principal_of_grant
from idp.oauth.storage import GrantRow, LoginSessionRow, revoke_grant
from idp.oauth.tokens import TokenIssuer
from idp.provider import Provider

log = logging.getLogger("govtrust.idp.logout")
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class SessionNotFound(LookupError):
    """No such session (or, with an owner, not that person's: the same answer)."""


@dataclass(frozen=True)
class EndedSession:
    public_id: str
    person_id: str
    grants_revoked: int
    notified: tuple[str, ...]
    failed: tuple[str, ...]


def id_token_hint_claims(provider: Provider, hint: str) -> dict[str, Any] | None:
    """Claims of an ID token we issued (expiry ignored: RP-Initiated Logout §2)."""
    try:
        claims = jws.verify(hint, token_keys(provider.ctx), typ="JWT")
    except jws.InvalidJws:
        return None
    if claims.get("iss") != provider.ctx.issuer:
        return None
    return claims


def end_session_by_id(
    provider: Provider, public_id: str, *, actor: str, owner: str | None = None
) -> EndedSession:
    """End ``public_id``, revoke its grants and notify the clients (see the module doc)."""
    ctx = provider.ctx
    principals: dict[str, Principal] = {}
    with transaction(ctx.sessions) as session:
        row = session.scalars(
            select(LoginSessionRow).where(LoginSessionRow.public_id == public_id)
        ).first()
        if row is None or (owner is not None and row.person_id != owner):
            raise SessionNotFound(public_id)
        now = ctx.clock()
        if row.ended_at is None:
            row.ended_at = now
        grants = list(
            session.scalars(
                select(GrantRow).where(
                    GrantRow.session_id == public_id, GrantRow.revoked_at.is_(None)
                )
            )
        )
        for grant in grants:
            revoke_grant(session, grant.id, now, "session ended")
            principal = principal_of_grant(grant)
            if principal is not None:
                principals.setdefault(grant.client_id, principal)
        ctx.audit.record(
            session,
            AuditEvent(
                actor=actor,
                action="session.ended",
                object_type="session",
                object_id=public_id,
                details={"person": row.person_id, "grants_revoked": len(grants)},
            ),
        )
        person_id = row.person_id
    notified, failed = notify_backchannel(provider, public_id, principals)
    return EndedSession(public_id, person_id, len(grants), notified, failed)


def logout(provider: Provider, cookie: str | None, actor: str) -> EndedSession | None:
    """The browser's logout: end the session its cookie names, if any."""
    if not cookie:
        return None
    with provider.ctx.sessions() as session:
        row = session.get(LoginSessionRow, provider.ctx.digest("session", cookie))
        public_id = None if row is None or row.ended_at is not None else row.public_id
    if public_id is None:
        return None
    return end_session_by_id(provider, public_id, actor=actor)


def notify_backchannel(
    provider: Provider, public_id: str, principals: dict[str, Principal]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Send each client a logout token; returns (notified, failed) client ids."""
    ctx = provider.ctx
    issuer = TokenIssuer(ctx)
    now = int(ctx.clock().timestamp())
    notified: list[str] = []
    failed: list[str] = []
    for client_id, principal in principals.items():
        with ctx.sessions() as session:
            client = provider.server.clients.get(session, client_id)
        if client is None or not client.backchannel_logout_uri:
            continue
        claims = {
            "iss": ctx.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_urlsafe(16),
            "sub": issuer.subject_for(client, principal),
            "sid": public_id,
            "events": {LOGOUT_EVENT: {}},
        }
        token = jws.sign(claims, ctx.keys.signer("token"), typ="logout+jwt")
        try:
            response = provider.http.post(
                client.backchannel_logout_uri, data={"logout_token": token}, timeout=5.0
            )
        except httpx.HTTPError as exc:
            log.warning("back-channel logout to %s failed: %s", client_id, type(exc).__name__)
            failed.append(client_id)
            continue
        (notified if response.status_code == 200 else failed).append(client_id)
    return tuple(notified), tuple(failed)
