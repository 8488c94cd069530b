"""Checking a JWT access token (RFC 9068 §4) and whether it was revoked since.

The signature must come from a published token key with the algorithm of that key
(RFC 8725 §3.1), ``typ`` must be ``at+jwt`` (RFC 9068 §2.1), ``iss`` ours, ``aud`` ours,
and the token unexpired; then the stored record must be neither revoked nor part of a
revoked grant, which is how revocation reaches self-contained tokens. A client's token for
itself issued without a row (:mod:`idp.oauth.rowless_tokens`) is usable until its
revocation writes one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from idp.oauth import jws
from idp.oauth.context import IdpContext
from idp.oauth.rowless_tokens import is_rowless
from idp.oauth.storage import AccessTokenRow, GrantRow, access_token_usable
from keys.managed import KeyInfo

CLOCK_SKEW_SECONDS = 30


def keys_by_kid(keys: Iterable[KeyInfo]) -> dict[str, Any]:
    """Public keys by ``kid``, as :func:`jws.verify` takes them."""
    return {key.kid: key.public_key for key in keys}


def token_keys(ctx: IdpContext) -> dict[str, Any]:
    return keys_by_kid(ctx.keys.published("token"))


def claims_acceptable(ctx: IdpContext, claims: dict[str, Any], audience: str | None = None) -> bool:
    """RFC 9068 §4 after the signature: ``iss`` ours, ``aud`` ours (or ``audience``), not
    expired, not before its time, and a ``jti`` to find its row by."""
    now = ctx.clock().timestamp()
    try:
        if claims.get("iss") != ctx.issuer or claims.get("aud") not in (ctx.issuer, audience):
            return False
        if float(claims["exp"]) < now - CLOCK_SKEW_SECONDS:
            return False
        if float(claims.get("nbf", 0)) > now + CLOCK_SKEW_SECONDS:
            return False
        return isinstance(claims["jti"], str)
    except (KeyError, TypeError, ValueError):
        return False


def verify_access_token(
    ctx: IdpContext, session: Session, token: str, audience: str | None = None
) -> dict[str, Any] | None:
    """The token's claims if it is valid now, else None. ``aud`` must be this issuer, or
    ``audience`` when given (a token issued to a client by token exchange)."""
    try:
        claims = jws.verify(token, token_keys(ctx), typ="at+jwt")
    except jws.InvalidJws:
        return None
    if not claims_acceptable(ctx, claims, audience):
        return None
    row = session.get(AccessTokenRow, claims["jti"])
    if row is None:
        if not is_rowless(ctx, claims):
            return None
        claims["_grant_id"] = None
        return claims  # issued without a row, and not revoked (none written since)
    grant = session.get(GrantRow, row.grant_id) if row.grant_id is not None else None
    if not access_token_usable(
        revoked_at=row.revoked_at,
        grant_id=row.grant_id,
        grant_found=grant is not None,
        grant_revoked_at=grant.revoked_at if grant is not None else None,
    ):
        return None
    claims["_grant_id"] = row.grant_id
    return claims
