"""The backchannel authentication endpoint (OpenID Connect CIBA Core 1.0 §7) and the pages
where the person answers (:mod:`idp.ciba_flow`).

- ``POST /bc-authorize``: the counter or hotline client, authenticated, starts a request;
  errors are RFC 6749 / CIBA §13 JSON. The ID number travels only in this POST body.
- ``GET /ciba``: the logged-in person's pending requests, each with allow / deny (the
  person logs in here first if needed, with the provider's login form and throttle).
- ``GET /ciba/{id}``: the page of the SMS link: the request, and the one-time code of the
  SMS to enter with the answer.

Forms carry a CSRF value: the keyed hash of a random HttpOnly cookie (as the device pages).
"""

from __future__ import annotations

from typing import Annotated, Any

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from core.errors.handlers import oauth_error_response
from core.errors.oauth import OAuthError
from idp import ciba_flow
from idp.credentials.throttle import client_ip
from idp.grants.ciba import CIBA_AUTH_METHODS
from idp.login_flow import attempt_password_login, set_session_cookie
from idp.oauth.context import current_session
from idp.oauth.requests import HttpRequest
from idp.pages import scope_labels
from idp.provider import Provider
from idp.routers.interaction_forms import ProviderDep
from idp.routers.person_page import PersonPage
from idp.routers.token import NO_STORE, _form_request

router = APIRouter(tags=["openid-connect"])

CSRF_COOKIE = "govtrust_ciba_csrf"
CsrfForm = Annotated[str, Form(max_length=128)]
DecisionForm = Annotated[str, Form(max_length=8)]
RequestId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[a-f0-9]+$")]


# -- backchannel authentication endpoint (§7) ---------------------------------------------


def _start(provider: Provider, http: HttpRequest) -> dict[str, Any]:
    with provider.ctx.sessions() as session:
        marker = current_session.set(session)
        try:
            oauth_request = provider.server.create_oauth2_request(http)
            client = provider.server.authenticate_client(
                oauth_request, CIBA_AUTH_METHODS, endpoint="backchannel_authentication"
            )
        except OAuth2Error as error:
            raise OAuthError("invalid_client", error.description or None, 401) from error
        finally:
            current_session.reset(marker)
    form = {
        key: value
        for key, value in http.form.items()
        if key not in ("client_secret", "client_assertion", "client_assertion_type")
    }
    return ciba_flow.start(provider, client.client, form)


@router.post(
    "/bc-authorize",
    summary="Backchannel authentication endpoint (OpenID Connect CIBA §7)",
    responses={
        400: {"description": "RFC 6749 / CIBA §13 error JSON"},
        401: {"description": "invalid_client"},
    },
)
async def backchannel_authentication(request: Request, provider: ProviderDep) -> Response:
    try:
        http = await _form_request(request, provider)
        body = await run_in_threadpool(_start, provider, http)
    except OAuthError as error:
        return oauth_error_response(error)
    return JSONResponse(body, headers=NO_STORE)


# -- the person's pages ----------------------------------------------------------------------


class _Page(PersonPage):
    csrf_cookie = CSRF_COOKIE
    path = "/ciba"

    def message(self, key: str, status: int = 200) -> Response:
        template = "ciba_done.html" if status < 400 else "error.html"
        return self.respond(template, status=status, message=self.text[key])


@router.get("/ciba", include_in_schema=False)
def pending_page(request: Request, provider: ProviderDep) -> Response:
    page = _Page(request, provider)
    if page.login is None:
        return page.respond(
            "login.html", action="/ciba/login", client_name=page.text["ciba_heading"], error=None
        )
    items = [
        {
            "id": found.id,
            "client_name": client_name,
            "binding_message": found.binding_message,
            "scopes": scope_labels(page.lang, found.scope.split()),
        }
        for found, client_name in ciba_flow.pending(provider, page.login.person_id)
    ]
    return page.respond("ciba.html", action="/ciba/decide", requests=items)


@router.post("/ciba/login", include_in_schema=False)
def login(
    request: Request,
    provider: ProviderDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: CsrfForm,
) -> Response:
    page = _Page(request, provider)
    if not page.csrf_ok(csrf):
        return page.message("bad_request", 400)
    address = client_ip(
        request.client.host if request.client else "",
        request.headers.get("x-forwarded-for"),
        provider.trusted_proxies,
    )
    logged_in = attempt_password_login(
        provider,
        username,
        password,
        ip=address,
        user_agent=request.headers.get("user-agent", ""),
        via="ciba",
    )
    if logged_in is None:
        return page.respond(
            "login.html",
            action="/ciba/login",
            client_name=page.text["ciba_heading"],
            error=page.text["login_failed"],
        )
    response = RedirectResponse("/ciba", status_code=303)
    set_session_cookie(response, provider, logged_in.cookie)
    return response


@router.post("/ciba/decide", include_in_schema=False)
def decide_logged_in(
    request: Request,
    provider: ProviderDep,
    request_id: Annotated[str, Form(max_length=32)],
    decision: DecisionForm,
    csrf: CsrfForm,
) -> Response:
    page = _Page(request, provider)
    if not page.csrf_ok(csrf) or decision not in ("allow", "deny"):
        return page.message("bad_request", 400)
    login = page.login
    if login is None:
        return RedirectResponse("/ciba", status_code=303)
    found = ciba_flow.open_request(provider, request_id)
    decided = None
    if found is not None:
        decided = ciba_flow.decide(
            provider,
            found[0],
            person_id=login.person_id,
            approved=decision == "allow",
            acr=login.acr,
            amr=login.amr,
            auth_time=login.auth_time,
            session_id=login.public_id,
        )
    if decided is None:
        return page.message("ciba_unknown", 400)
    return page.message("ciba_approved" if decided.approved else "ciba_denied")


def _code_page(page: _Page, request_id: str, error: str | None = None) -> Response:
    found = ciba_flow.open_request(page.provider, request_id)
    if found is None:
        return page.message("ciba_unknown", 404)
    ciba_request, client = found
    return page.respond(
        "ciba_code.html",
        status=400 if error else 200,
        action=f"/ciba/{ciba_request.id}",
        client_name=client.name,
        binding_message=ciba_request.binding_message,
        scopes=scope_labels(page.lang, ciba_request.scope.split()),
        error=error,
    )


@router.get("/ciba/{request_id}", include_in_schema=False)
def code_page(request: Request, request_id: RequestId, provider: ProviderDep) -> Response:
    return _code_page(_Page(request, provider), request_id)


@router.post("/ciba/{request_id}", include_in_schema=False)
def decide_with_code(
    request: Request,
    request_id: RequestId,
    provider: ProviderDep,
    code: Annotated[str, Form(max_length=16)],
    decision: DecisionForm,
    csrf: CsrfForm,
) -> Response:
    page = _Page(request, provider)
    if not page.csrf_ok(csrf) or decision not in ("allow", "deny"):
        return page.message("bad_request", 400)
    found = ciba_flow.open_request(provider, request_id)
    if found is None:
        return page.message("ciba_unknown", 404)
    if not ciba_flow.verify_code(provider, request_id, code):
        return _code_page(page, request_id, error=page.text["ciba_code_failed"])
    ciba_request, _ = found
    decided = ciba_flow.decide(
        provider, ciba_request, person_id=ciba_request.person_id, approved=decision == "allow"
    )
    if decided is None:
        return page.message("ciba_unknown", 400)
    return page.message("ciba_approved" if decided.approved else "ciba_denied")
