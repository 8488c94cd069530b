"""RP-Initiated Logout 1.0 (§2, §3): end the session and go back to the client.

``post_logout_redirect_uri`` must be registered for the client exactly (§3.1); without a
valid ``id_token_hint`` naming this session, the person confirms on a page first, so that
a third party cannot log people out by a link (§6 "Security Considerations").
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from core.constant_time import same_text
from idp.clients.storage import SqlClientStore
from idp.logout import id_token_hint_claims, logout
from idp.oauth.sessions import SESSION_COOKIE, find_session
from idp.pages import TEXT, language, render
from idp.provider import Provider
from idp.routers.interaction_forms import ProviderDep

router = APIRouter(tags=["openid-connect"])


def _destination(
    provider: Provider,
    client_id: str | None,
    hint: dict[str, object] | None,
    redirect_uri: str | None,
) -> tuple[str | None, str | None]:
    """(verified redirect URI or None, error)."""
    if redirect_uri is None:
        return None, None
    audience = hint.get("aud") if hint else None
    wanted = client_id or (audience if isinstance(audience, str) else None)
    if wanted is None:
        return None, "post_logout_redirect_uri needs client_id or id_token_hint"
    with provider.ctx.sessions() as session:
        client = SqlClientStore().get(session, wanted)
    if client is None or redirect_uri not in client.post_logout_redirect_uris:
        return None, "post_logout_redirect_uri is not registered for this client"
    return redirect_uri, None


def _csrf(provider: Provider, cookie: str | None) -> str:
    return provider.ctx.digest("logout-csrf", cookie or "")[:32]


def _done(
    provider: Provider, request: Request, destination: str | None, state: str | None
) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    logout(provider, cookie, actor="person")
    if destination:
        query = urlencode({"state": state}) if state else ""
        separator = "&" if "?" in destination else "?"
        response: Response = RedirectResponse(
            f"{destination}{separator}{query}" if query else destination, status_code=303
        )
    else:
        lang = language(request)
        response = render(request, "logged_out.html", message=TEXT[lang]["logged_out"])
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get(
    "/logout",
    summary="RP-initiated logout (end_session_endpoint)",
    response_class=HTMLResponse,
    responses={303: {"description": "Back to the client's post-logout redirect URI"}},
)
def logout_page(
    request: Request,
    provider: ProviderDep,
    id_token_hint: Annotated[str | None, Query(max_length=4096)] = None,
    post_logout_redirect_uri: Annotated[str | None, Query(max_length=2048)] = None,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    hint = id_token_hint_claims(provider, id_token_hint) if id_token_hint else None
    if id_token_hint and hint is None:
        return render(request, "error.html", status=400, message="id_token_hint")
    destination, error = _destination(provider, client_id, hint, post_logout_redirect_uri)
    if error:
        return render(request, "error.html", status=400, message=error)
    cookie = request.cookies.get(SESSION_COOKIE)
    with provider.ctx.sessions() as session:
        current = find_session(provider.ctx, session, cookie)
    if current is None:
        return _done(provider, request, destination, state)
    if hint is not None and hint.get("sid") == current.public_id:
        return _done(provider, request, destination, state)
    return render(
        request,
        "logout.html",
        action="/logout",
        csrf=_csrf(provider, cookie),
        redirect_uri=destination or "",
        state=state or "",
    )


@router.post("/logout", include_in_schema=False)
def logout_confirm(
    request: Request,
    provider: ProviderDep,
    csrf: Annotated[str, Form(max_length=64)],
    redirect_uri: Annotated[str, Form(max_length=2048)] = "",
    state: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not same_text(csrf, _csrf(provider, cookie)):
        lang = language(request)
        return render(request, "error.html", status=400, message=TEXT[lang]["bad_request"])
    destination = None
    if redirect_uri:  # verified again: the form is the client's to tamper with
        with provider.ctx.sessions() as session:
            registered = any(
                redirect_uri in client.post_logout_redirect_uris
                for client in SqlClientStore().all(session)
            )
        destination = redirect_uri if registered else None
    return _done(provider, request, destination, state or None)
