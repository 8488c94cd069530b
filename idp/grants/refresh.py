"""Refresh tokens (RFC 6749 §6) rotated on every use, with reuse detection (RFC 9700 §4.14.2).

A refresh token is claimed atomically (a conditional UPDATE that only one request can win);
presenting a token that was already rotated revokes the whole grant, so a stolen token is
worth nothing once either party uses it. No grace period: of two concurrent refreshes with
the same token, exactly one succeeds.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.grants import RefreshTokenGrant
from sqlalchemy import select, update

from core.audit.entry import AuditEvent
from idp.oauth.context import current_dpop_jkt, db
from idp.oauth.models import RefreshRecord
from idp.oauth.principal import Principal, principal_of_grant
from idp.oauth.storage import GrantRow, RefreshTokenRow, revoke_grant


class RotatingRefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        ctx = self.server.ctx
        session = db()
        token_hash = ctx.digest("refresh", refresh_token)
        row = session.get(RefreshTokenRow, token_hash)
        now = ctx.clock()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return None
        # FOR KEY SHARE until the rotation commits (PostgreSQL): the grant cannot be deleted
        # under this request. A revocation (an UPDATE of revoked_at, which does not wait for
        # this lock: a stronger one would deadlock reuses detected at once, each revoking)
        # either comes first and is seen here, or commits while this request runs; the
        # tokens issued then belong to a revoked grant, and every use of one checks its
        # grant (introspection, refresh, userinfo: idp.oauth.storage.access_token_usable),
        # so none is usable after the revocation
        grant = session.scalars(
            select(GrantRow).where(GrantRow.id == row.grant_id).with_for_update(key_share=True)
        ).first()
        if grant is None or grant.revoked_at is not None:
            return None
        # kept for authenticate_user: the session holds rows only while they are referenced
        self._grant = grant
        if row.dpop_jkt is not None and row.dpop_jkt != current_dpop_jkt.get():
            return None  # RFC 9449 §5.2: only the bound key may refresh
        claimed = session.execute(
            update(RefreshTokenRow)
            .where(RefreshTokenRow.token_hash == token_hash, RefreshTokenRow.rotated_at.is_(None))
            .values(rotated_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            revoke_grant(session, row.grant_id, now, "refresh token reused")
            ctx.audit.record(
                session,
                AuditEvent(
                    actor=row.client_id,
                    action="oauth.refresh_reused",
                    object_type="grant",
                    object_id=row.grant_id,
                ),
            )
            session.commit()  # the revocation stands although this request fails
            return None
        return RefreshRecord.from_row(row)

    def authenticate_user(self, refresh_token: RefreshRecord) -> Principal | None:
        grant: GrantRow | None = getattr(self, "_grant", None)
        if grant is not None and grant.id == refresh_token.grant_id:
            # read and checked with the token, in this request's transaction
            return principal_of_grant(grant)
        principal: Principal | None = self.server.principal_for_grant(refresh_token.grant_id)
        return principal

    def revoke_old_credential(self, refresh_token: Any) -> None:
        """Already marked rotated when it was claimed."""
