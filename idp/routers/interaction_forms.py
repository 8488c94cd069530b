"""What every page of an authorization's interaction needs: the provider, the interaction a
form was posted to, and its CSRF check (forms are bound to their interaction)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from core.deps import ServicesDep
from idp import interaction as interactions
from idp.interaction import Interaction
from idp.pages import TEXT, language, render
from idp.provider import Provider


def get_provider(services: ServicesDep) -> Provider:
    provider: Provider = services.idp
    return provider


ProviderDep = Annotated[Provider, Depends(get_provider)]


def load_interaction(
    request: Request, provider: Provider, interaction_id: str
) -> Interaction | Response:
    current = interactions.load(provider.cache, interaction_id)
    if current is None:
        lang = language(request)
        return render(request, "error.html", status=400, message=TEXT[lang]["expired"])
    return current


def check_csrf(request: Request, current: Interaction, csrf: str) -> Response | None:
    if not secrets.compare_digest(csrf, current.csrf):
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
