"""Token (RFC 6749 §3.2), introspection (RFC 7662) and revocation (RFC 7009) endpoints.

They answer errors as RFC 6749 §5.2 JSON, never problem+json, and never cache (§5.1).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from core.db.engine import transaction
from core.errors.handlers import oauth_error_response
from core.errors.oauth import OAuthError
from idp.oauth import dpop, dpop_nonce, par
from idp.oauth.access_tokens import verify_access_token
from idp.oauth.context import current_dpop_jkt, current_session
from idp.oauth.endpoint_auth import (
    INTROSPECTION_AUTH_METHODS,
    PAR_AUTH_METHODS,
    REVOCATION_AUTH_METHODS,
)
from idp.oauth.request_object import InvalidRequestObject
from idp.oauth.requests import HttpRequest, unreadable_basic_credentials
from idp.oauth.storage import GrantRow, RefreshTokenRow, revoke_access_token, revoke_grant
from idp.provider import Provider
from idp.routers.authorize import request_object_params

router = APIRouter(tags=["openid-connect"])

FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic error="invalid_client"'}


async def _provider(request: Request) -> Provider:
    """The provider, without a trip through the thread pool: FastAPI runs a plain ``def``
    dependency in a worker thread, which cost these endpoints two thread hand-offs per
    request (``bench/PROFILE.md``)."""
    provider: Provider = request.app.state.services.idp
    return provider


ProviderDep = Annotated[Provider, Depends(_provider)]


async def _form_request(request: Request, provider: Provider) -> HttpRequest:
    """The POSTed form, refusing other media types and repeated parameters (§3.2)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        raise OAuthError("invalid_request", f"send {FORM}")
    form = await request.form()
    items = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
    keys = [key for key, _ in items]
    if len(keys) != len(set(keys)) or len(items) != len(form.multi_items()):
        raise OAuthError("invalid_request", "parameters must not be repeated")
    if unreadable_basic_credentials(request.headers):  # RFC 6749 §5.2: 401 and the scheme
        raise OAuthError("invalid_client", "malformed Basic credentials", 401, BASIC_CHALLENGE)
    url = f"{provider.ctx.issuer}{request.url.path}"
    return HttpRequest("POST", url, dict(items), request.headers)


def _dpop_jkt(provider: Provider, http: HttpRequest) -> str | None:
    """The key of the request's DPoP proof (RFC 9449 §5), if it sent one; with server nonces
    on, a proof without the current one raises :class:`dpop.DpopNonceRequired` (§8)."""
    proof = http.headers.get("dpop")
    if proof is None:
        return None
    nonces = provider.dpop_nonces
    try:
        checked = dpop.verify_proof(
            proof,
            method="POST",
            url=http.url,
            cache=provider.cache,
            now=provider.ctx.clock,
            nonce_check=None if nonces is None else nonces.checker(dpop_nonce.TOKEN_ENDPOINT),
        )
    except dpop.DpopNonceRequired:
        raise
    except dpop.InvalidDpopProof as exc:
        raise OAuthError("invalid_dpop_proof", str(exc)) from exc
    return checked.jkt


def _token(provider: Provider, http: HttpRequest) -> Response:
    nonces = provider.dpop_nonces
    if nonces is None or http.headers.get("dpop") is None:
        return _token_response(provider, http)
    # RFC 9449 §8.2: a fresh nonce with every answer to a DPoP request, so it rotates
    fresh = {"DPoP-Nonce": nonces.current(dpop_nonce.TOKEN_ENDPOINT)}
    try:
        response = _token_response(provider, http)
    except dpop.DpopNonceRequired:
        error = OAuthError("use_dpop_nonce", "send a DPoP proof with the server's nonce")
        return oauth_error_response(error, headers=fresh)
    response.headers.update(fresh)
    return response


def _token_response(provider: Provider, http: HttpRequest) -> Response:
    jkt = _dpop_jkt(provider, http)
    with transaction(provider.ctx.sessions) as session:
        marker = current_session.set(session)
        bound = current_dpop_jkt.set(jkt)
        try:
            response: Response = provider.server.create_token_response(http)
        finally:
            current_session.reset(marker)
            current_dpop_jkt.reset(bound)
        if response.status_code >= 400:
            session.rollback()
    return response


@router.post(
    "/token",
    summary="Token endpoint (RFC 6749 §3.2)",
    responses={400: {"description": "RFC 6749 error JSON"}},
)
async def token(request: Request, provider: ProviderDep) -> Response:
    http = await _form_request(request, provider)
    return await run_in_threadpool(_token, provider, http)


def _authenticated_client(provider: Provider, http: HttpRequest, methods: list[str]) -> Any:
    oauth_request = provider.server.create_oauth2_request(http)
    try:
        return provider.server.authenticate_client(oauth_request, methods, endpoint="introspection")
    except OAuth2Error as error:
        # RFC 6749 §5.2: a client that tried the Authorization header is told its scheme
        challenge = BASIC_CHALLENGE if "authorization" in http.headers else None
        raise OAuthError("invalid_client", error.description or None, 401, challenge) from error


def _introspect(provider: Provider, http: HttpRequest) -> dict[str, Any]:
    ctx = provider.ctx
    with ctx.sessions() as session:
        marker = current_session.set(session)
        try:
            client = _authenticated_client(provider, http, INTROSPECTION_AUTH_METHODS)
        finally:
            current_session.reset(marker)
        token = http.form.get("token", "")
        if not token:
            raise OAuthError("invalid_request", "token is required")
        claims = verify_access_token(ctx, session, token)
        if claims is not None:
            claims.pop("_grant_id", None)
            return {"active": True, "token_type": "Bearer", **claims}
        row = session.get(RefreshTokenRow, ctx.digest("refresh", token))
        if row is None or row.client_id != client.get_client_id():
            return {"active": False}
        grant = session.get(GrantRow, row.grant_id)
        now = ctx.clock()
        if (
            row.revoked_at
            or row.rotated_at
            or row.expires_at <= now
            or grant is None
            or grant.revoked_at is not None
        ):
            return {"active": False}
        return {
            "active": True,
            "token_type": "refresh_token",
            "client_id": row.client_id,
            "scope": row.scope,
            "exp": int(row.expires_at.timestamp()),
            "iat": int(row.issued_at.timestamp()),
            "sub": grant.organisation_subject or grant.subject,
            "iss": ctx.issuer,
        }


@router.post("/introspect", summary="Token introspection (RFC 7662)")
async def introspect(request: Request, provider: ProviderDep) -> Response:
    http = await _form_request(request, provider)
    body = await run_in_threadpool(_introspect, provider, http)
    return JSONResponse(body, headers=NO_STORE)


def _revoke(provider: Provider, http: HttpRequest) -> None:
    ctx = provider.ctx
    with transaction(ctx.sessions) as session:
        marker = current_session.set(session)
        try:
            client = _authenticated_client(provider, http, REVOCATION_AUTH_METHODS)
        finally:
            current_session.reset(marker)
        token = http.form.get("token", "")
        if not token:
            raise OAuthError("invalid_request", "token is required")
        now = ctx.clock()
        refresh = session.get(RefreshTokenRow, ctx.digest("refresh", token))
        if refresh is not None and refresh.client_id == client.get_client_id():
            # RFC 7009 §2.1: revoking a refresh token revokes its grant's access tokens too.
            revoke_grant(session, refresh.grant_id, now, "revoked by the client")
            return
        claims = verify_access_token(ctx, session, token)
        if claims is not None and claims.get("client_id") == client.get_client_id():
            revoke_access_token(session, claims, now)


@router.post("/revoke", summary="Token revocation (RFC 7009)")
async def revoke(request: Request, provider: ProviderDep) -> Response:
    http = await _form_request(request, provider)
    try:
        await run_in_threadpool(_revoke, provider, http)
    except OAuthError as error:
        return oauth_error_response(error)
    return Response(status_code=200, headers=NO_STORE)


def _request_object(provider: Provider, client_id: str, params: dict[str, str]) -> dict[str, str]:
    try:
        return request_object_params(provider, client_id, params)
    except InvalidRequestObject as error:
        raise OAuthError(error.error, str(error)) from error


def _push(provider: Provider, http: HttpRequest) -> dict[str, Any]:
    ctx = provider.ctx
    if "request_uri" in http.form:
        raise OAuthError("invalid_request", "request_uri cannot be pushed (RFC 9126 §2.1)")
    with ctx.sessions() as session:
        marker = current_session.set(session)
        try:
            client = _authenticated_client(provider, http, PAR_AUTH_METHODS)
            params = {
                k: v
                for k, v in http.form.items()
                if k not in ("client_secret", "client_assertion", "client_assertion_type")
            }
            params["client_id"] = client.get_client_id()
            if "request" in params:  # RFC 9126 §3: a request object inside the pushed request
                params = _request_object(provider, client.get_client_id(), params)
            authorize = HttpRequest("GET", f"{ctx.issuer}/authorize?{urlencode(params)}")
            try:
                provider.server.get_consent_grant(request=authorize)
            except OAuth2Error as error:
                raise OAuthError(error.error, error.description or None) from error
        finally:
            current_session.reset(marker)
    pushed = par.push(provider.cache, client.get_client_id(), params)
    return {"request_uri": pushed.request_uri, "expires_in": par.LIFETIME_SECONDS}


@router.post("/par", status_code=201, summary="Pushed authorization request (RFC 9126)")
async def pushed_authorization_request(request: Request, provider: ProviderDep) -> Response:
    http = await _form_request(request, provider)
    body = await run_in_threadpool(_push, provider, http)
    return JSONResponse(body, status_code=201, headers=NO_STORE)
