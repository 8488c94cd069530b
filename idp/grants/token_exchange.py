"""Token exchange (RFC 8693) of a person's access token for a narrower one.

Two uses: the logged-in mobile app exchanges its token for one for the web portal
(``audience`` = the portal's client id), so that the portal opens already logged in
(native SSO); a department system exchanges a person's token for a narrower one for a
downstream service. Authlib has no RFC 8693 grant (its ``rfc8693`` package is empty), so
this one builds on its :class:`BaseGrant`.

The request is checked in order (§2.1, §2.2.2); the first failure answers:

1. the client authenticates and is registered for this grant (``unauthorized_client``);
2. ``subject_token_type`` is ``urn:ietf:params:oauth:token-type:access_token``,
   ``requested_token_type`` absent or the same, no ``actor_token`` (``invalid_request``);
3. the subject token is an access token of this provider, valid now and not revoked
   (:func:`~idp.oauth.access_tokens.verify_access_token`: an ID token or anything else is
   refused), of a person whose grant stands, issued to a client still active
   (``invalid_request``, as §2.2.2 asks for an unacceptable subject token);
4. a public client may exchange only tokens issued to it or for it (``invalid_request``);
   a confidential client (a department system) may exchange a person's token it was given,
   also one issued for it (``aud`` = its client id) by an earlier exchange;
5. a DPoP-bound subject token (``cnf.jkt``, RFC 9449) needs a DPoP proof at this request
   made with the same key; the new token is bound to that key (``invalid_request``);
6. ``audience`` / ``resource`` names one target: this provider (the default) or an active
   client, whose client id becomes ``aud``; when the exchanging client has an allow-list of
   targets (``exchange_targets``, set at registration or by an admin), the client named must
   be on it (``invalid_target``; this provider itself is always allowed, as a token for it
   is never wider than the subject token);
7. the scope never widens: the requested scope (by default the subject token's) must lie
   within the subject token's scope and within the scope registered for the client the
   token is for (``invalid_scope``).

The new token never outlives the subject token (``exp`` is the earlier of the two), has no
refresh token, keeps the subject token's grant (revoking the grant revokes it), names the
person as the target client sees them (pairwise subjects stay pairwise), and carries in
``act`` the client that exchanged it, with any earlier actors nested inside (§4.1). The
client is named by ``client_id`` in ``act``, not ``sub``, so that ``act.sub`` keeps meaning
"the acting person" to this service's resource servers. Every exchange is audited.

A token whose ``aud`` is another client is checked by that client (signature from
``jwks_uri``, ``iss``, ``aud``, ``exp``); :func:`verify_access_token` accepts only tokens
for this provider, so such a token is not accepted here at userinfo, introspection or as a
subject token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import BaseGrant, TokenEndpointMixin
from authlib.oauth2.rfc6749.errors import (
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)

from core.audit.entry import AuditEvent
from idp.clients.channels import TOKEN_EXCHANGE
from idp.clients.models import Client
from idp.identities.storage import PersonRow
from idp.oauth import jws
from idp.oauth.access_token_ledger import AccessTokenRecord
from idp.oauth.access_tokens import verify_access_token
from idp.oauth.context import current_dpop_jkt, db
from idp.oauth.models import OAuthClient
from idp.oauth.principal import Principal
from idp.oauth.storage import AccessTokenRow

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
MAX_ACTORS = 5  # how deep ``act`` may nest: exchanges of exchanges of ...


class InvalidTargetError(OAuth2Error):  # type: ignore[misc]
    """RFC 8693 §2.2.2: the server will not issue a token for the named target."""

    error = "invalid_target"
    status_code = 400


@dataclass(frozen=True)
class Exchange:
    """A validated exchange request."""

    client: OAuthClient  # the client exchanging (the actor)
    subject: dict[str, Any]  # the subject token's claims
    principal: Principal
    target: Client | None  # the client the token is for; None: this provider
    scope: str
    dpop_jkt: str | None


def _parameters(data: dict[str, str]) -> str:
    """Check 2: what is asked for; returns the subject token."""
    if data.get("subject_token_type") != ACCESS_TOKEN_TYPE:
        raise InvalidRequestError(f"subject_token_type must be {ACCESS_TOKEN_TYPE}")
    if data.get("requested_token_type", ACCESS_TOKEN_TYPE) != ACCESS_TOKEN_TYPE:
        raise InvalidRequestError("only access tokens are issued by exchange")
    if "actor_token" in data or "actor_token_type" in data:
        raise InvalidRequestError("actor_token is not accepted: the client is the actor")
    subject_token = data.get("subject_token", "")
    if not subject_token:
        raise InvalidRequestError("subject_token is required")
    return subject_token


def _actor_chain(prior: Any, person: str, depth: int = 0) -> dict[str, Any] | None:
    """The subject token's ``act``, with the person named as the new token's client sees
    them (an ``act`` member ``sub`` is always the acting person in this service's tokens)."""
    if not isinstance(prior, dict):
        return None
    if depth >= MAX_ACTORS:
        raise InvalidRequestError("the subject token has too many actors")
    link: dict[str, Any] = {}
    if "sub" in prior:
        link["sub"] = person
    if "client_id" in prior:
        link["client_id"] = str(prior["client_id"])
    nested = _actor_chain(prior.get("act"), person, depth + 1)
    if nested:
        link["act"] = nested
    return link or None


class TokenExchangeGrant(BaseGrant, TokenEndpointMixin):  # type: ignore[misc]
    GRANT_TYPE = TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ]

    # -- checks, in order ----------------------------------------------------------------

    def validate_token_request(self) -> None:
        client: OAuthClient = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("the client may not exchange tokens")
        data = self.request.payload.data
        subject, principal = self._subject(_parameters(data), client.get_client_id())
        mine = client.get_client_id() in (subject.get("client_id"), subject.get("aud"))
        if client.client.is_public and not mine:
            raise InvalidRequestError("a public client may exchange only its own tokens")
        jkt = self._sender_constraint(subject)
        target = self._target(data, client.client)
        scope = self._scope(data.get("scope"), subject, target or client.client)
        self.request.client = client
        self.request.user = principal
        self.exchange = Exchange(client, subject, principal, target, scope, jkt)

    def _subject(self, token: str, client_id: str) -> tuple[dict[str, Any], Principal]:
        """Check 3: a valid, unrevoked access token of an active person and client."""
        session = db()
        claims = verify_access_token(self.server.ctx, session, token, audience=client_id)
        grant_id = claims.get("_grant_id") if claims is not None else None
        principal = self.server.principal_for_grant(grant_id) if grant_id else None
        if claims is None or principal is None:
            raise InvalidRequestError("subject_token is not a valid access token of a person")
        person = session.get(PersonRow, principal.person_id)
        issued_to = self.server.query_client(str(claims.get("client_id", "")))
        if person is None or person.status != "active" or issued_to is None:
            raise InvalidRequestError("subject_token is not a valid access token of a person")
        return claims, principal

    @staticmethod
    def _sender_constraint(subject: dict[str, Any]) -> str | None:
        """Check 5: the key the new token is bound to, if any (RFC 9449 §6)."""
        presented = current_dpop_jkt.get()
        cnf = subject.get("cnf")
        bound = cnf.get("jkt") if isinstance(cnf, dict) else None
        if bound is not None and bound != presented:
            raise InvalidRequestError("subject_token is DPoP-bound: prove possession of its key")
        return presented

    def _target(self, data: dict[str, str], exchanging: Client) -> Client | None:
        """Check 6: None for this provider, else the active client named (and allowed)."""
        targets = {data[name] for name in ("audience", "resource") if data.get(name)}
        if len(targets) > 1:
            raise InvalidTargetError("name one target, in audience or resource")
        if not targets or targets == {self.server.ctx.issuer}:
            return None
        named = targets.pop()
        allowed = exchanging.exchange_targets
        if allowed is not None and named not in allowed:
            raise InvalidTargetError("the client may not exchange tokens for this audience")
        client = self.server.query_client(named)
        if client is None:
            raise InvalidTargetError("the audience is not a client of this provider")
        target: Client = client.client
        return target

    @staticmethod
    def _scope(requested: str | None, subject: dict[str, Any], audience: Client) -> str:
        """Check 7: within the subject token's scope and the audience client's registration."""
        held = str(subject.get("scope", "")).split()
        registered = audience.allowed_scopes()
        if requested is None:
            scope = [s for s in held if s in registered]
        else:
            scope = requested.split()
            if not set(scope) <= set(held):
                raise InvalidScopeError("an exchange never widens the scope")
            if not set(scope) <= registered:
                raise InvalidScopeError("the audience is not registered for this scope")
        if not scope:
            raise InvalidScopeError("no scope left to issue")
        return " ".join(dict.fromkeys(scope))

    # -- the new token -------------------------------------------------------------------

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        ctx = self.server.ctx
        exchange: Exchange = self.exchange
        actor = exchange.client.get_client_id()
        audience = exchange.target or exchange.client.client
        principal = exchange.principal
        person = self.server.issuer.subject_for(audience, principal)
        now = ctx.clock()
        issued = int(now.timestamp())
        expires = min(
            issued + int(ctx.lifetimes.access_token.total_seconds()), int(exchange.subject["exp"])
        )
        if expires <= issued:
            raise InvalidRequestError("subject_token has expired")
        act: dict[str, Any] = {"client_id": actor}
        prior = _actor_chain(exchange.subject.get("act"), person)
        if prior is not None:
            act["act"] = prior
        jti = secrets.token_urlsafe(16)
        claims: dict[str, Any] = {
            "iss": ctx.issuer,
            "aud": ctx.issuer if exchange.target is None else exchange.target.client_id,
            "client_id": actor,
            "iat": issued,
            "nbf": issued,
            "exp": expires,
            "jti": jti,
            "scope": exchange.scope,
            "sub": principal.organisation_subject or person,
            "act": act,
        }
        for name in ("auth_time", "acr", "amr"):
            if name in exchange.subject:
                claims[name] = exchange.subject[name]
        if exchange.dpop_jkt is not None:
            claims["cnf"] = {"jkt": exchange.dpop_jkt}
        token = jws.sign(claims, ctx.keys.signer("token"), typ="at+jwt")
        session = db()
        record = AccessTokenRecord(
            jti=jti,
            client_id=actor,
            subject=claims["sub"],
            scope=exchange.scope,
            issued_at=now,
            expires_at=datetime.fromtimestamp(expires, UTC),
            grant_id=principal.grant_id,
            dpop_jkt=exchange.dpop_jkt,
        )
        session.add(AccessTokenRow(**record.columns()))
        ctx.audit.record(
            session,
            AuditEvent(
                actor=actor,
                action="oauth.token_exchanged",
                object_type="access_token",
                object_id=jti,
                details={
                    "subject_token": str(exchange.subject["jti"]),
                    "subject_client_id": str(exchange.subject.get("client_id", "")),
                    "audience": claims["aud"],
                    "scope": exchange.scope,
                    "grant_id": principal.grant_id,
                },
            ),
        )
        session.flush()
        body = {
            "access_token": token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "DPoP" if exchange.dpop_jkt else "Bearer",
            "expires_in": expires - issued,
            "scope": exchange.scope,
        }
        return 200, body, self.TOKEN_RESPONSE_HEADER
