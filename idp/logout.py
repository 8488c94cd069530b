"""Ending a login session: RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.

Ending a session revokes the grants made in it (their refresh and access tokens), then
tells every client that had one, and registered a ``backchannel_logout_uri``, with a signed
logout token (Back-Channel Logout §2.4: ``typ: logout+jwt``, ``events``, ``sid``, no
``nonce``). Delivery failures are logged and recorded, never block the logout.
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
from idp.clients.storage import SqlClientStore
from idp.oauth import jws
from idp.oauth.access_tokens import token_keys
from idp.oauth.principal import Principal
from idp.oauth.sessions import end_session
from idp.oauth.storage import GrantRow, revoke_grant
from idp.oauth.tokens import TokenIssuer
from idp.provider import Provider

log = logging.getLogger("govtrust.idp.logout")
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass(frozen=True)
class LogoutResult:
    session_public_id: str | None
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


def logout(provider: Provider, cookie: str | None, http: httpx.Client, actor: str) -> LogoutResult:
    ctx = provider.ctx
    now = ctx.clock()
    to_notify: dict[str, tuple[str, Principal]] = {}
    with transaction(ctx.sessions) as session:
        public_id = end_session(ctx, session, cookie)
        if public_id is None:
            return LogoutResult(None, (), ())
        grants = list(session.scalars(select(GrantRow).where(GrantRow.session_id == public_id)))
        clients = SqlClientStore()
        for grant in grants:
            revoke_grant(session, grant.id, now, "logout")
            client = clients.get(session, grant.client_id)
            principal = provider.server.principal_for_grant_row(grant)
            if client and client.backchannel_logout_uri and principal is not None:
                to_notify.setdefault(client.client_id, (client.backchannel_logout_uri, principal))
        ctx.audit.record(
            session,
            AuditEvent(
                actor=actor,
                action="logout",
                object_type="session",
                object_id=public_id,
                details={"grants_revoked": len(grants)},
            ),
        )
    issuer = TokenIssuer(ctx)
    notified: list[str] = []
    failed: list[str] = []
    for client_id, (uri, principal) in to_notify.items():
        with ctx.sessions() as session:
            client = SqlClientStore().get(session, client_id)
        assert client is not None
        claims = {
            "iss": ctx.issuer,
            "aud": client_id,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + 120,
            "jti": secrets.token_urlsafe(16),
            "sub": issuer.subject_for(client, principal),
            "sid": public_id,
            "events": {LOGOUT_EVENT: {}},
        }
        token = jws.sign(claims, ctx.keys.signer("token"), typ="logout+jwt")
        try:
            response = http.post(uri, data={"logout_token": token}, timeout=5.0)
            (notified if response.status_code == 200 else failed).append(client_id)
        except httpx.HTTPError as exc:
            log.warning("back-channel logout to %s failed: %s", client_id, type(exc).__name__)
            failed.append(client_id)
    return LogoutResult(public_id, tuple(notified), tuple(failed))
