"""The authorization code grant (RFC 6749 §4.1) with the RFC 9700 gaps closed.

- Codes live 60 s, are stored as keyed hashes, and are single-use: a second use finds the
  code consumed, and revokes the grant and every token issued from it (RFC 9700 §4.5.3;
  RFC 6749 §4.1.2). The redemption holds the code's row from its read to its commit
  (``FOR UPDATE`` on PostgreSQL; on SQLite the write transaction already holds the
  database), so a second request racing the first reads the code once it is consumed.
- Redirect URIs are compared exactly (RFC 9700 §2.1; Authlib's check on the client).
- PKCE S256 is required (:mod:`idp.grants.pkce`).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant

from core.audit.entry import AuditEvent
from idp.oauth.context import db
from idp.oauth.models import CodeRecord
from idp.oauth.principal import Principal
from idp.oauth.storage import CodeRow, GrantRow, revoke_grant


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ]
    AUTHORIZATION_CODE_LENGTH = 43

    def save_authorization_code(self, code: str, request: Any) -> None:
        ctx = self.server.ctx
        principal: Principal = request.user
        now = ctx.clock()
        session = db()
        session.add(
            CodeRow(
                code_hash=ctx.digest("code", code),
                grant_id=principal.grant_id,
                client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri or "",
                scope=request.scope or "",
                nonce=request.payload.data.get("nonce"),
                code_challenge=request.payload.data["code_challenge"],
                code_challenge_method=request.payload.data["code_challenge_method"],
                created_at=now,
                expires_at=now + ctx.lifetimes.authorization_code,
            )
        )
        session.flush()

    def query_authorization_code(self, code: str, client: Any) -> CodeRecord | None:
        ctx = self.server.ctx
        session = db()
        # held until this request commits: a concurrent redemption waits, then finds it used
        row = session.get(CodeRow, ctx.digest("code", code), with_for_update=True)
        if row is None or row.client_id != client.get_client_id():
            return None
        now = ctx.clock()
        if row.consumed_at is not None:
            revoke_grant(session, row.grant_id, now, "authorization code reused")
            ctx.audit.record(
                session,
                AuditEvent(
                    actor=row.client_id,
                    action="oauth.code_reused",
                    object_type="grant",
                    object_id=row.grant_id,
                ),
            )
            session.commit()  # the revocation stands although this request fails
            return None
        if row.expires_at <= now:
            return None
        grant = session.get(GrantRow, row.grant_id)
        if grant is None or grant.revoked_at is not None:
            return None
        return CodeRecord.from_rows(row, grant)

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        """Mark the code consumed (kept, so that a replay is recognised)."""
        row = db().get(CodeRow, authorization_code.code_hash)
        if row is not None:
            row.consumed_at = self.server.ctx.clock()

    def authenticate_user(self, authorization_code: CodeRecord) -> Principal | None:
        principal: Principal | None = self.server.principal_for_grant(authorization_code.grant_id)
        return principal
