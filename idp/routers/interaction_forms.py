"""What every page of an authorization's interaction needs: the provider, the interaction a
form was posted to, and its CSRF checks: forms are bound to their interaction, and the
interaction to the browser that started it (:data:`BROWSER_COOKIE`)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from core.constant_time import same_text
from core.deps import ServicesDep
from idp import interaction as interactions
from idp.interaction import Interaction
from idp.pages import TEXT, language, render
from idp.provider import Provider


async def get_provider(services: ServicesDep) -> Provider:
    provider: Provider = services.idp
    return provider


ProviderDep = Annotated[Provider, Depends(get_provider)]

BROWSER_COOKIE = "govtrust_browser"
"""A random value per browser; an interaction keeps its keyed hash (login CSRF defence)."""
BROWSER_COOKIE_SECONDS = 400 * 24 * 3600


def browser_binding(provider: Provider, request: Request) -> tuple[str, str | None]:
    """(the keyed hash binding an interaction to this browser, a new cookie value to set if
    the browser has none yet)."""
    existing = request.cookies.get(BROWSER_COOKIE)
    value = existing if existing and len(existing) <= 64 else secrets.token_urlsafe(32)
    return provider.ctx.digest("interaction-browser", value), None if value == existing else value


def set_browser_cookie(provider: Provider, response: Response, value: str) -> None:
    response.set_cookie(
        BROWSER_COOKIE,
        value,
        max_age=BROWSER_COOKIE_SECONDS,
        path="/",
        httponly=True,
        secure=provider.secure_cookies,
        samesite="lax",
    )


def load_interaction(
    request: Request, provider: Provider, interaction_id: str
) -> Interaction | Response:
    """The interaction, if it exists and this is the browser that started it."""
    current = interactions.load(provider.cache, interaction_id)
    lang = language(request)
    if current is None:
        return render(request, "error.html", status=400, message=TEXT[lang]["expired"])
    if current.browser is not None:
        cookie = request.cookies.get(BROWSER_COOKIE) or ""
        expected = provider.ctx.digest("interaction-browser", cookie)
        if not cookie or not secrets.compare_digest(expected, current.browser):
            return render(request, "error.html", status=400, message=TEXT[lang]["bad_request"])
    return current


def check_csrf(request: Request, current: Interaction, csrf: str) -> Response | None:
    if not same_text(csrf, current.csrf):
        lang = language(request)
        return render(request, "error.html", status=400, message=TEXT[lang]["bad_request"])
    return None


def posted_interaction(
    request: Request, provider: Provider, interaction_id: str, csrf: str, *, person: bool = True
) -> Interaction | Response:
    """The interaction a form was posted to, if its CSRF token matches (and, with
    ``person``, someone has logged in to it); else the page to answer with."""
    current = load_interaction(request, provider, interaction_id)
    if isinstance(current, Response):
        return current
    refused = check_csrf(request, current, csrf)
    if refused is not None:
        return refused
    if person and current.person_id is None:
        return RedirectResponse(f"/interaction/{current.id}", status_code=303)
    return current
