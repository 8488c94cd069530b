"""The device authorization endpoint (RFC 8628 §3.1) and the verification page (§3.3).

A kiosk POSTs to ``/device_authorization`` and shows the user code and a QR code of
``verification_uri_complete``. The person opens ``/device`` on their phone or computer:

- Not logged in there: the page is the provider's login form (the same template, password
  check, throttle and login session as at ``/authorize``), posting to ``/device/login``,
  after which the person comes back to ``/device``. Second factors are not asked here: the
  kiosk gets the level the person logged in with (``acr`` in its tokens), and a kiosk that
  needs more refuses the tokens.
- Logged in: the person types the user code (or arrives with it from the QR code), sees the
  kiosk's name, the code again (to compare with the kiosk's screen, §5.4) and the scopes,
  and approves or denies. The person always acts as themselves here, never for an
  organisation.

Every form is protected against CSRF by a random value in an HttpOnly cookie whose keyed
hash the form carries. User-code look-ups are rate limited per person and per address
(§5.1, :class:`idp.oauth.device.GuessLimit`); the look-up happens only once logged in.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from core.audit.entry import AuditEvent
from core.db.engine import transaction
from idp.credentials.throttle import client_ip
from idp.login_flow import attempt_password_login, set_session_cookie
from idp.oauth.context import current_session
from idp.oauth.device import (
    DeviceAuthorization,
    DeviceDecision,
    GuessLimit,
    normalise_user_code,
)
from idp.oauth.requests import HttpRequest
from idp.oauth.sessions import (
    LoginSession,
)
from idp.oauth.storage import GrantRow
from idp.pages import scope_labels
from idp.provider import Provider
from idp.routers.interaction_forms import ProviderDep
from idp.routers.person_page import PersonPage
from idp.routers.token import _form_request

router = APIRouter(tags=["openid-connect"])

CSRF_COOKIE = "govtrust_device_csrf"

UserCodeQuery = Annotated[str | None, Query(max_length=32)]
UserCodeForm = Annotated[str, Form(max_length=32)]
CsrfForm = Annotated[str, Form(max_length=128)]


# -- device authorization endpoint (RFC 8628 §3.1) ---------------------------------------


def _device_authorization(provider: Provider, http: HttpRequest) -> Response:
    with provider.ctx.sessions() as session:
        marker = current_session.set(session)
        try:
            response: Response = provider.server.create_endpoint_response(
                "device_authorization", http
            )
        finally:
            current_session.reset(marker)
    return response


@router.post(
    "/device_authorization",
    summary="Device authorization endpoint (RFC 8628 §3.1)",
    responses={
        400: {"description": "RFC 6749 error JSON"},
        401: {"description": "invalid_client"},
    },
)
async def device_authorization(request: Request, provider: ProviderDep) -> Response:
    http = await _form_request(request, provider)
    return await run_in_threadpool(_device_authorization, provider, http)


# -- the verification page (RFC 8628 §3.3) ------------------------------------------------


class _Page(PersonPage):
    """What every verification page needs: the person's login, the CSRF pair, the text."""

    csrf_cookie = CSRF_COOKIE
    path = "/device"

    def __init__(self, request: Request, provider: Provider) -> None:
        super().__init__(request, provider)
        self.address = client_ip(
            request.client.host if request.client else "",
            request.headers.get("x-forwarded-for"),
            provider.trusted_proxies,
        )

    def error(self, key: str, status: int = 400) -> Response:
        return self.respond("error.html", status=status, message=self.text[key])

    def login_form(self, user_code: str | None, error: str | None = None) -> Response:
        query = f"?{urlencode({'user_code': user_code})}" if user_code else ""
        return self.respond(
            "login.html",
            action=f"/device/login{query}",
            client_name=self.text["device_kiosk"],
            error=error,
        )


def _pending(page: _Page, login: LoginSession, user_code: str) -> DeviceAuthorization | Response:
    """The authorization a typed user code names, rate limited; else the page to show."""
    guesses = GuessLimit(page.provider.cache, page.provider.ctx)
    if not guesses.begin(login.person_id, page.address):
        return page.error("device_too_many", status=429)
    store = page.provider.server.devices
    authorization = store.find_by_user_code(user_code)
    if authorization is None:
        return page.error("device_unknown")
    guesses.found(login.person_id, page.address)
    if authorization.expired(page.provider.ctx.clock()):
        return page.error("device_unknown")
    if store.decision(authorization) is not None:
        return page.error("device_answered")
    return authorization


def _confirm(page: _Page, login: LoginSession, user_code: str) -> Response:
    found = _pending(page, login, user_code)
    if isinstance(found, Response):
        return found
    with page.provider.ctx.sessions() as session:
        client = page.provider.server.clients.get(session, found.client_id)
    if client is None or not client.active:
        return page.error("device_unknown")
    return page.respond(
        "device_confirm.html",
        action="/device/approve",
        client_name=client.name,
        user_code=found.user_code,
        scopes=scope_labels(page.lang, found.scope.split()),
    )


@router.get("/device", include_in_schema=False)
def device_page(
    request: Request, provider: ProviderDep, user_code: UserCodeQuery = None
) -> Response:
    page = _Page(request, provider)
    typed = user_code if user_code and normalise_user_code(user_code) else None
    if page.login is None:
        return page.login_form(typed)
    if user_code is None:
        return page.respond("device.html", action="/device", error=None)
    return _confirm(page, page.login, user_code)


@router.post("/device", include_in_schema=False)
def device_enter(
    request: Request, provider: ProviderDep, user_code: UserCodeForm, csrf: CsrfForm
) -> Response:
    page = _Page(request, provider)
    if not page.csrf_ok(csrf):
        return page.error("bad_request")
    if page.login is None:
        return page.login_form(user_code if normalise_user_code(user_code) else None)
    return _confirm(page, page.login, user_code)


@router.post("/device/approve", include_in_schema=False)
def device_approve(
    request: Request,
    provider: ProviderDep,
    user_code: UserCodeForm,
    decision: Annotated[str, Form(max_length=8)],
    csrf: CsrfForm,
) -> Response:
    page = _Page(request, provider)
    if not page.csrf_ok(csrf) or decision not in ("allow", "deny"):
        return page.error("bad_request")
    login = page.login
    if login is None:
        return page.login_form(user_code if normalise_user_code(user_code) else None)
    found = _pending(page, login, user_code)
    if isinstance(found, Response):
        return found
    ctx = provider.ctx
    approved = decision == "allow"
    with transaction(ctx.sessions) as session:
        person = provider.identities.person_by_id(session, login.person_id)
        if person is None or person.status != "active":
            return page.error("expired")
        grant_id = secrets.token_hex(16) if approved else None
        if grant_id is not None:
            session.add(
                GrantRow(
                    id=grant_id,
                    client_id=found.client_id,
                    person_id=person.id,
                    subject=person.subject,
                    scope=found.scope,
                    auth_time=login.auth_time,
                    acr=login.acr,
                    amr=" ".join(login.amr),
                    session_id=login.public_id,
                    created_at=ctx.clock(),
                )
            )
            session.flush()
        recorded = provider.server.devices.decide(
            found, DeviceDecision(approved=approved, person_id=person.id, grant_id=grant_id)
        )
        if not recorded:  # answered meanwhile, on another page
            session.rollback()
            return page.error("device_answered")
        ctx.audit.record(
            session,
            AuditEvent(
                actor=person.subject,
                action="oauth.device_approved" if approved else "oauth.device_denied",
                object_type="device_authorization",
                object_id=found.device_hash,
                details={"client_id": found.client_id, "scope": found.scope, "grant_id": grant_id},
            ),
        )
    done = "device_approved" if approved else "device_denied"
    return page.respond("device_done.html", message=page.text[done])


@router.post("/device/login", include_in_schema=False)
def device_login(
    request: Request,
    provider: ProviderDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: CsrfForm,
    user_code: UserCodeQuery = None,
) -> Response:
    """The provider's password login (as at ``/interaction/{id}/login``), then back to
    ``/device``."""
    page = _Page(request, provider)
    if not page.csrf_ok(csrf):
        return page.error("bad_request")
    typed = user_code if user_code and normalise_user_code(user_code) else None
    logged_in = attempt_password_login(
        provider,
        username,
        password,
        ip=page.address,
        user_agent=request.headers.get("user-agent", ""),
        via="device",
    )
    if logged_in is None:
        return page.login_form(typed, error=page.text["login_failed"])
    target = f"/device?{urlencode({'user_code': typed})}" if typed else "/device"
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, provider, logged_in.cookie)
    return response
