"""Logging in to the console through the service's own OpenID Connect provider.

The console is a relying party like any portal: it sends the browser to the provider's
``/authorize`` with the authorization code flow and PKCE S256 (RFC 7636 §4.2; RFC 9700
§2.1.1), a ``state`` bound to the browser by a short-lived cookie (RFC 6749 §10.12) and a
``nonce`` (OpenID Connect Core §3.1.2.1); on the way back it checks ``iss`` (RFC 9207 §2.4)
and ``state``, redeems the code at the token endpoint with its client secret, and checks
the ID token (Core §3.1.3.7: signature, ``iss``, ``aud``, ``exp``, ``nonce``).

The token endpoint is called in-process, through the provider's own authorization server,
with exactly the request an HTTP client would send: the same grant, PKCE and client checks,
without a network round trip to the service's own public URL (which a worker behind a load
balancer may not even be able to reach).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import Headers

from console.client import CLIENT_ID, SCOPE, redirect_uri
from core.cache import Cache
from core.constant_time import same_text
from core.db.engine import transaction
from idp.oauth import jws
from idp.oauth.access_tokens import token_keys
from idp.oauth.context import current_dpop_jkt, current_session
from idp.oauth.requests import HttpRequest
from idp.oauth.storage import revoke_grant
from idp.provider import Provider

LOGIN_COOKIE = "govtrust_console_login"
LOGIN_SECONDS = 10 * 60
CLOCK_SKEW_SECONDS = 60
_PENDING = "console:login:"


class LoginFailed(Exception):
    """The way back from the provider did not check out; the message says why (no secret)."""


@dataclass(frozen=True)
class PendingLogin:
    """What the console remembers between sending the browser away and its return."""

    nonce: str
    verifier: str
    next_path: str
    binding: str


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    id_token: str
    expires_in: int
    scope: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 §4.2: ``BASE64URL(SHA256(ASCII(code_verifier)))``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def start_login(
    provider: Provider, cache: Cache, next_path: str, acr_values: str | None = None
) -> tuple[str, str]:
    """The authorization URL to send the browser to, and the value of the cookie that binds
    the request to this browser. ``acr_values`` (OpenID Connect Core §3.1.2.1) asks the
    provider for a level of assurance: a session below it is stepped up (a second factor)
    before the provider answers, and the new tokens carry that ``acr``."""
    state = secrets.token_urlsafe(32)
    pending = PendingLogin(
        nonce=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(48),
        next_path=next_path,
        binding=secrets.token_urlsafe(32),
    )
    cache.set(
        _PENDING + _digest(state),
        json.dumps(pending.__dict__).encode(),
        ttl=LOGIN_SECONDS,
    )
    issuer = provider.ctx.issuer
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri(issuer),
        "scope": SCOPE,
        "state": state,
        "nonce": pending.nonce,
        "code_challenge": pkce_challenge(pending.verifier),
        "code_challenge_method": "S256",
    }
    if acr_values:
        params["acr_values"] = acr_values
    query = urlencode(params)
    return f"{issuer}/authorize?{query}", pending.binding


def _take_pending(cache: Cache, state: str) -> PendingLogin | None:
    key = _PENDING + _digest(state)
    raw = cache.get(key)
    if raw is None or not cache.delete(key):  # single use
        return None
    try:
        return PendingLogin(**json.loads(raw))
    except (ValueError, TypeError):
        return None


def token_request(provider: Provider, form: dict[str, str]) -> dict[str, Any]:
    """POST ``form`` to the provider's token endpoint (RFC 6749 §3.2), in-process."""
    http = HttpRequest(
        "POST",
        f"{provider.ctx.issuer}/token",
        form,
        Headers({"content-type": "application/x-www-form-urlencoded"}),
    )
    with transaction(provider.ctx.sessions) as session:
        marker = current_session.set(session)
        bound = current_dpop_jkt.set(None)
        try:
            response = provider.server.create_token_response(http)
        finally:
            current_session.reset(marker)
            current_dpop_jkt.reset(bound)
        if response.status_code >= 400:
            session.rollback()
    body: dict[str, Any] = json.loads(bytes(response.body))
    if response.status_code != 200:
        raise LoginFailed(f"token endpoint: {body.get('error', 'error')}")
    return body


def _tokens(body: dict[str, Any]) -> Tokens:
    try:
        return Tokens(
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token"),
            id_token=str(body.get("id_token", "")),
            expires_in=int(body["expires_in"]),
            scope=str(body.get("scope", "")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise LoginFailed("token endpoint: malformed response") from error


def check_id_token(provider: Provider, id_token: str, nonce: str | None) -> dict[str, Any]:
    """The ID token's claims after the checks of OpenID Connect Core §3.1.3.7."""
    try:
        claims = jws.verify(id_token, token_keys(provider.ctx), typ="JWT")
    except jws.InvalidJws as error:
        raise LoginFailed("id_token: bad signature") from error
    now = provider.ctx.clock().timestamp()
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if claims.get("iss") != provider.ctx.issuer or CLIENT_ID not in audiences:
        raise LoginFailed("id_token: wrong issuer or audience")
    try:
        expired = float(claims["exp"]) < now - CLOCK_SKEW_SECONDS
    except (KeyError, TypeError, ValueError):
        expired = True
    if expired:
        raise LoginFailed("id_token: expired")
    if nonce is not None and not same_text(str(claims.get("nonce", "")), nonce):
        raise LoginFailed("id_token: nonce mismatch")
    return claims


def finish_login(
    provider: Provider,
    cache: Cache,
    secret: str,
    *,
    state: str,
    code: str,
    iss: str | None,
    binding: str | None,
) -> tuple[Tokens, dict[str, Any], str]:
    """Redeem the code of the provider's answer: (tokens, ID token claims, where to go)."""
    if iss is not None and iss != provider.ctx.issuer:  # RFC 9207 §2.4
        raise LoginFailed("iss does not name this provider")
    pending = _take_pending(cache, state)
    if pending is None:
        raise LoginFailed("unknown or expired state")
    if not binding or not same_text(binding, pending.binding):
        raise LoginFailed("state was not issued to this browser")
    body = token_request(
        provider,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri(provider.ctx.issuer),
            "code_verifier": pending.verifier,
            "client_id": CLIENT_ID,
            "client_secret": secret,
        },
    )
    tokens = _tokens(body)
    claims = check_id_token(provider, tokens.id_token, pending.nonce)
    return tokens, claims, pending.next_path


def refresh(provider: Provider, secret: str, refresh_token: str) -> Tokens:
    """New tokens for a refresh token (RFC 6749 §6); the provider rotates it."""
    body = token_request(
        provider,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": CLIENT_ID,
            "client_secret": secret,
        },
    )
    tokens = _tokens(body)
    if tokens.id_token:
        check_id_token(provider, tokens.id_token, None)
    return tokens


def revoke(provider: Provider, grant_id: str | None) -> None:
    """Revoke the console's grant and every token issued from it (logout)."""
    if grant_id is None:
        return
    with transaction(provider.ctx.sessions) as session:
        revoke_grant(session, grant_id, provider.ctx.clock(), "console_logout")


def end_session_url(provider: Provider, id_token: str, post_logout: str) -> str:
    """RP-Initiated Logout 1.0 §2: log out of the provider too, and come back."""
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": post_logout})
    return f"{provider.ctx.issuer}/logout?{query}"
