"""Logging in and out of the console through the service's own provider."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from console import auth, csrf
from console.client import PREFIX, client_secret, post_logout_uri
from console.deps import FormViewer, ServicesDep, store_of
from console.pages import error_page, render
from console.session import COOKIE, ConsoleSession
from idp.oauth.sessions import LOA_ORDER
from idp.routers.bearer import BearerError, token_context

router = APIRouter(include_in_schema=False)
HOME = f"{PREFIX}/"


def safe_next(target: str | None) -> str:
    """Only a path inside the console: never another site (open redirect)."""
    if (
        not target
        or not target.startswith(HOME)
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x21 for c in target)
    ):
        return HOME
    return target


def _cookie(response: Response, name: str, value: str, secure: bool, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        secure=secure,
        httponly=True,
        samesite="lax",
    )


@router.get("/login")
def login(
    services: ServicesDep,
    next: Annotated[str | None, Query(max_length=512)] = None,
    acr: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Log in; with ``acr`` (a level the provider knows), step the login up to it."""
    wanted = acr if acr in LOA_ORDER else None
    url, binding = auth.start_login(services.idp, services.cache, safe_next(next), wanted)
    response = RedirectResponse(url, status_code=303)
    _cookie(response, auth.LOGIN_COOKIE, binding, services.idp.secure_cookies, auth.LOGIN_SECONDS)
    return response


@router.get("/callback")
def callback(
    request: Request,
    services: ServicesDep,
    code: Annotated[str | None, Query(max_length=512)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    iss: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    provider = services.idp
    if not code or not state:  # an error answer (access_denied...) or a stray visit
        return error_page(request, 400, "error.login", login=True)
    try:
        tokens, claims, next_path = auth.finish_login(
            provider,
            services.cache,
            client_secret(services),
            state=state,
            code=code,
            iss=iss,
            binding=request.cookies.get(auth.LOGIN_COOKIE),
        )
        token = token_context(provider, tokens.access_token, frozenset(), person=True)
    except (auth.LoginFailed, BearerError):
        return error_page(request, 400, "error.login", login=True)
    assert token.person_id is not None
    session = ConsoleSession(
        person_id=token.person_id,
        subject=token.act_sub or token.sub,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        id_token=tokens.id_token,
        access_expires_at=provider.ctx.clock().timestamp() + tokens.expires_in,
        csrf=csrf.new_token(),
        created_at=time.time(),
        grant_id=token.grant_id,
        login_session_id=str(claims["sid"]) if claims.get("sid") else None,
    )
    store = store_of(services)
    before = store.load(request.cookies.get(COOKIE))
    if before is not None and before.grant_id != session.grant_id:  # e.g. after a step-up
        auth.revoke(provider, before.grant_id)
    store.delete(request.cookies.get(COOKIE))  # never keep a session from before the login
    cookie = store.create(session)
    response = RedirectResponse(next_path, status_code=303)
    _cookie(response, COOKIE, cookie, provider.secure_cookies, 8 * 60 * 60)
    response.delete_cookie(auth.LOGIN_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
def logout(viewer: FormViewer, services: ServicesDep) -> Response:
    provider = services.idp
    auth.revoke(provider, viewer.session.grant_id)
    store_of(services).delete(viewer.cookie)
    target = auth.end_session_url(
        provider, viewer.session.id_token, post_logout_uri(provider.ctx.issuer)
    )
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@router.get("/logged-out")
def logged_out(request: Request) -> Response:
    return render(request, "logged_out.html")
