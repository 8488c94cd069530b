"""What every page a person answers outside the authorization flow needs (the device
verification page, the CIBA approval pages): their login session, the page text in their
language, and a CSRF pair — a random cookie scoped to the page's path, and a form token
derived from it with the provider's keyed hash, so that a form posted from elsewhere
(OWASP "double submit", signed) is refused."""

from __future__ import annotations

import secrets

from fastapi import Request
from fastapi.responses import Response

from core.constant_time import same_text
from idp.oauth.sessions import SESSION_COOKIE, LoginSession, find_session
from idp.pages import TEXT, language, render
from idp.provider import Provider

CSRF_COOKIE_SECONDS = 1800


class PersonPage:
    """One request's page context. ``path`` scopes the CSRF cookie (``/device``, ``/ciba``)."""

    csrf_cookie: str = "govtrust_csrf"
    path: str = "/"

    def __init__(self, request: Request, provider: Provider) -> None:
        self.request = request
        self.provider = provider
        self.lang = language(request)
        self.text = TEXT[self.lang]
        existing = request.cookies.get(self.csrf_cookie)
        self.new_cookie = None if existing else secrets.token_urlsafe(32)
        self.cookie = existing or self.new_cookie or ""
        self.csrf = provider.ctx.digest(f"{self.csrf_cookie}-form", self.cookie)
        with provider.ctx.sessions() as session:
            self.login: LoginSession | None = find_session(
                provider.ctx, session, request.cookies.get(SESSION_COOKIE)
            )

    def csrf_ok(self, posted: str) -> bool:
        """The form token matches the cookie the browser already had (a first visit, which
        has no cookie yet, never passes)."""
        return self.new_cookie is None and same_text(posted, self.csrf)

    def respond(self, template: str, status: int = 200, **context: object) -> Response:
        response = render(self.request, template, status=status, csrf=self.csrf, **context)
        if self.new_cookie is not None:
            response.set_cookie(
                self.csrf_cookie,
                self.new_cookie,
                max_age=CSRF_COOKIE_SECONDS,
                path=self.path,
                httponly=True,
                secure=self.provider.secure_cookies,
                samesite="lax",
            )
        return response
