"""Issuing tokens: JWT access tokens (RFC 9068), ID tokens (OpenID Connect Core §2),
and opaque refresh tokens stored as keyed hashes.

``sub`` is the person's opaque identifier as the client sees it (pairwise per sector when
the client asks), or the organisation's when the person acts for it, with the person as
actor in ``act`` (RFC 8693 §4.1). Client-credentials tokens have the client as subject.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from idp.clients.models import Client
from idp.oauth import jws
from idp.oauth.context import IdpContext
from idp.oauth.principal import Principal, pairwise_subject
from idp.oauth.rowless_tokens import rowless_jti


class ClaimsSource(Protocol):
    def claims(
        self,
        principal: Principal,
        scopes: set[str],
        client: Client,
        session: Session | None = None,
    ) -> dict[str, Any]:
        """Identity claims released for ``scopes`` (OpenID Connect Core §5.4), read in
        ``session`` when given."""
        ...


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    jti: str
    subject: str
    issued_at: datetime
    expires_at: datetime
    rowless: bool = False  # no row is to be written (idp.oauth.rowless_tokens)

    def response(self, scope: str, dpop_jkt: str | None) -> dict[str, Any]:
        """The token response's members (RFC 6749 §5.1; ``DPoP`` type, RFC 9449 §5)."""
        return {
            "access_token": self.token,
            "token_type": "DPoP" if dpop_jkt else "Bearer",
            "expires_in": int((self.expires_at - self.issued_at).total_seconds()),
            "scope": scope,
        }


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def half_hash(value: str) -> str:
    """``at_hash`` for ES256/RS256 (OpenID Connect Core §3.1.3.6): left half of SHA-256."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


class TokenIssuer:
    def __init__(self, ctx: IdpContext) -> None:
        self.ctx = ctx

    def subject_for(self, client: Client, principal: Principal) -> str:
        if client.subject_type == "pairwise":
            sector = client.sector_identifier or client.client_id
            return pairwise_subject(self.ctx.hash_key, sector, principal.subject)
        return principal.subject

    def _subject_claims(self, client: Client, principal: Principal | None) -> dict[str, Any]:
        if principal is None:
            return {"sub": client.client_id}
        person = self.subject_for(client, principal)
        if principal.organisation_subject:
            return {"sub": principal.organisation_subject, "act": {"sub": person}}
        return {"sub": person}

    def access_token(
        self,
        client: Client,
        principal: Principal | None,
        scope: str,
        dpop_jkt: str | None = None,
        actor: Mapping[str, Any] | None = None,
        signer: jws.JwsSigner | None = None,
        rowless: bool = False,
    ) -> IssuedAccessToken:
        """``actor``: who acts for the subject (RFC 8693 §4.1 ``act``), e.g. the counter and
        its staff member of a CIBA request; nested inside a person's ``act`` when the person
        acts for an organisation. ``signer``: the token key, when the caller has it at hand
        (the registry's active ``token`` key otherwise). ``rowless``: a client's token for
        itself that gets no row, its ``jti`` vouching for it instead
        (:mod:`idp.oauth.rowless_tokens`)."""
        now = self.ctx.clock()
        expires = now + self.ctx.lifetimes.access_token
        claims: dict[str, Any] = {
            "iss": self.ctx.issuer,
            "aud": self.ctx.issuer,
            "client_id": client.client_id,
            "iat": _seconds(now),
            "nbf": _seconds(now),
            "exp": _seconds(expires),
            "scope": scope,
            **self._subject_claims(client, principal),
        }
        if actor is not None:
            if isinstance(claims.get("act"), dict):
                claims["act"] = {**claims["act"], "act": dict(actor)}
            else:
                claims["act"] = dict(actor)
        if dpop_jkt is not None:
            claims["cnf"] = {"jkt": dpop_jkt}  # RFC 9449 §6.1
        if principal is not None:
            if principal.auth_time is not None:
                claims["auth_time"] = _seconds(principal.auth_time)
            if principal.acr:
                claims["acr"] = principal.acr
            if principal.amr:
                claims["amr"] = list(principal.amr)
        # last: a rowless jti vouches for every other claim
        jti = rowless_jti(self.ctx, claims) if rowless else secrets.token_urlsafe(16)
        claims["jti"] = jti
        token = jws.sign(claims, signer or self.ctx.keys.signer("token"), typ="at+jwt")
        return IssuedAccessToken(token, jti, claims["sub"], now, expires, rowless)

    def id_token(
        self,
        client: Client,
        principal: Principal,
        *,
        nonce: str | None,
        access_token: str | None,
        identity_claims: Mapping[str, Any],
        signer: jws.JwsSigner | None = None,
    ) -> str:
        """``signer``: the token key, when the caller has it at hand (the registry's active
        ``token`` key otherwise)."""
        now = self.ctx.clock()
        claims: dict[str, Any] = {
            **identity_claims,
            "iss": self.ctx.issuer,
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": _seconds(now),
            "exp": _seconds(now + self.ctx.lifetimes.id_token),
            **self._subject_claims(client, principal),
        }
        if principal.auth_time is not None:
            claims["auth_time"] = _seconds(principal.auth_time)
        if principal.acr:
            claims["acr"] = principal.acr
        if principal.amr:
            claims["amr"] = list(principal.amr)
        if principal.session_id:
            claims["sid"] = principal.session_id
        if nonce:
            claims["nonce"] = nonce
        if access_token:
            claims["at_hash"] = half_hash(access_token)
        return jws.sign(claims, signer or self.ctx.keys.signer("token"), typ="JWT")

    @staticmethod
    def new_refresh_token() -> str:
        return secrets.token_urlsafe(32)
