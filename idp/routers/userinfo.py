"""UserInfo (OpenID Connect Core §5.3), GET and POST, with Bearer tokens (RFC 6750)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from idp.oauth import dpop, dpop_nonce
from idp.oauth.access_tokens import verify_access_token
from idp.oauth.context import current_session
from idp.provider import Provider
from idp.routers.interaction_forms import ProviderDep

router = APIRouter(tags=["openid-connect"])


def _unauthorized(error: str, description: str, status: int = 401) -> Response:
    """RFC 6750 §3: the error travels in WWW-Authenticate."""
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={
            "WWW-Authenticate": f'Bearer error="{error}", error_description="{description}"',
            "Cache-Control": "no-store",
        },
    )


def _credentials(request: Request) -> tuple[str, str] | None:
    """(scheme, token) from ``Authorization: Bearer …`` (RFC 6750) or ``DPoP …`` (RFC 9449)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "dpop") and value.strip():
        return scheme.lower(), value.strip()
    return None


def _use_dpop_nonce(nonce: str) -> Response:
    """RFC 9449 §9: the proof must carry the resource server's nonce, sent here."""
    description = "send a DPoP proof with the server's nonce"
    return JSONResponse(
        {"error": "use_dpop_nonce", "error_description": description},
        status_code=401,
        headers={
            "WWW-Authenticate": f'DPoP error="use_dpop_nonce", error_description="{description}"',
            "DPoP-Nonce": nonce,
            "Cache-Control": "no-store",
        },
    )


def _userinfo(provider: Provider, request: Request, scheme: str, token: str) -> Response:
    ctx = provider.ctx
    nonces = provider.dpop_nonces
    with ctx.sessions() as session:
        claims = verify_access_token(ctx, session, token)
        if claims is None:
            return _unauthorized("invalid_token", "the access token is not valid")
        refused = dpop.check_presentation(
            claims,
            scheme=scheme,
            token=token,
            proof=request.headers.get("dpop"),
            method=request.method,
            url=f"{ctx.issuer}{request.url.path}",
            cache=provider.cache,
            now=ctx.clock,
            nonce_check=None if nonces is None else nonces.checker(dpop_nonce.RESOURCE),
        )
        if refused == "use_dpop_nonce" and nonces is not None:
            return _use_dpop_nonce(nonces.current(dpop_nonce.RESOURCE))
        if refused is not None:
            return _unauthorized("invalid_token", refused)
        scopes = set(str(claims.get("scope", "")).split())
        if "openid" not in scopes:
            return _unauthorized("insufficient_scope", "the openid scope is required", 403)
        grant_id = claims.get("_grant_id")
        marker = current_session.set(session)
        try:
            principal = provider.server.principal_for_grant(grant_id) if grant_id else None
        finally:
            current_session.reset(marker)
        if principal is None:
            return _unauthorized("invalid_token", "the access token is not valid")
        client = provider.server.clients.get(session, str(claims.get("client_id")))
    if client is None:
        return _unauthorized("invalid_token", "the access token is not valid")
    body = provider.server.claims.claims(principal, scopes, client)
    body["sub"] = claims["sub"]
    if "act" in claims:
        body["act"] = claims["act"]
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/userinfo", summary="UserInfo endpoint")
@router.post("/userinfo", summary="UserInfo endpoint (POST)")
async def userinfo(request: Request, provider: ProviderDep) -> Response:
    credentials = _credentials(request)
    if credentials is None:
        return _unauthorized("invalid_request", "send the access token as a Bearer token")
    return await run_in_threadpool(_userinfo, provider, request, *credentials)
