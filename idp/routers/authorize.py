"""The authorization endpoint (RFC 6749 §3.1, OpenID Connect Core §3.1.2) and the pages a
person goes through: log in, choose who to act as, consent.

Every step answers a POST with 303 (RFC 9700 §4.12). The authorization response carries
``iss`` (RFC 9207). The ID number is typed into a form and posted, never put in a URL.

The request arrives as query parameters, as a pushed request (``request_uri``, RFC 9126),
or as a signed request object (``request``, RFC 9101, :mod:`idp.oauth.request_object`);
a client registered with ``require_pushed_authorization_requests`` only the second way
(RFC 9126 §6).
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import parse_qs, urlencode

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.entry import AuditEvent
from core.db.engine import transaction
from idp import interaction as interactions
from idp.credentials.throttle import client_ip
from idp.identities.models import Organisation
from idp.interaction import Interaction
from idp.login_flow import attempt_password_login, set_session_cookie
from idp.oauth import par, purpose
from idp.oauth.context import current_session
from idp.oauth.principal import Principal
from idp.oauth.request_object import InvalidRequestObject, merge_outer, verify_request_object
from idp.oauth.requests import HttpRequest
from idp.oauth.sessions import (
    LOA_ORDER,
    SESSION_COOKIE,
    LoginSession,
    find_session,
    loa_at_least,
)
from idp.oauth.storage import ConsentRow, GrantRow, LoginSessionRow, active_consents
from idp.pages import TEXT, language, render, scope_labels
from idp.provider import Provider
from idp.routers.interaction_forms import (
    ProviderDep,
    browser_binding,
    load_interaction,
    posted_interaction,
    set_browser_cookie,
)
from idp.routers.step_up import second_factor_page

router = APIRouter(tags=["openid-connect"], include_in_schema=True)


def _error_redirect(
    provider: Provider, redirect_uri: str, error: str, description: str | None, state: str | None
) -> RedirectResponse:
    params = {"error": error, "iss": provider.ctx.issuer}
    if description:
        params["error_description"] = description
    if state:
        params["state"] = state
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", status_code=303)


def _oauth_error(
    request: Request, provider: Provider, error: OAuth2Error, state: str | None
) -> Response:
    """Redirect to a verified redirect URI, else show the error (never an open redirect)."""
    if error.redirect_uri:
        return _error_redirect(provider, error.redirect_uri, error.error, error.description, state)
    return render(request, "error.html", status=400, message=error.description or error.error)


def _authorization_request(provider: Provider, query: str) -> HttpRequest:
    return HttpRequest("GET", f"{provider.ctx.issuer}/authorize?{query}", {}, {})


def request_object_params(
    provider: Provider, client_id: str, outer: dict[str, str]
) -> dict[str, str]:
    """The parameters of the request object in ``outer["request"]`` (RFC 9101 §6.3).

    Raises :class:`InvalidRequestObject`."""
    with provider.ctx.sessions() as session:
        client = provider.server.registered_client(session, client_id)
    if client is None or not client.active:
        raise InvalidRequestObject("unknown client")
    inner = verify_request_object(
        outer["request"],
        client_id=client_id,
        jwks=client.jwks,
        issuer=provider.ctx.issuer,
        now=provider.ctx.clock,
        cache=provider.cache,
    )
    return merge_outer(outer, inner)


def _requires_par(provider: Provider, client_id: str) -> bool:
    with provider.ctx.sessions() as session:
        client = provider.server.registered_client(session, client_id)
    return client is not None and client.require_pushed_authorization_requests


@router.get(
    "/authorize",
    summary="OpenID Connect authorization endpoint",
    response_class=HTMLResponse,
    responses={303: {"description": "To the login page, or back to the client (RFC 6749 §4.1.2)"}},
)
def authorize(request: Request, provider: ProviderDep) -> Response:
    query = request.url.query
    request_uri = request.query_params.get("request_uri")
    client_id = request.query_params.get("client_id", "")
    if request_uri is not None:  # RFC 9126 §4: the pushed request replaces the query
        pushed = par.take(provider.cache, request_uri, client_id)
        if pushed is None:
            return render(request, "error.html", status=400, message="invalid_request_uri")
        query = urlencode({**pushed.params, "client_id": client_id})
    elif _requires_par(provider, client_id):  # RFC 9126 §6
        return render(
            request,
            "error.html",
            status=400,
            message="invalid_request: this client must use pushed authorization requests",
        )
    elif "request" in request.query_params:  # RFC 9101 §5: a request object by value
        try:
            params = request_object_params(provider, client_id, dict(request.query_params))
        except InvalidRequestObject as error:
            # the redirect URI cannot be trusted: shown, never redirected to
            return render(request, "error.html", status=400, message=f"{error.error}: {error}")
        query = urlencode(params)
    with transaction(provider.ctx.sessions) as session:
        token = current_session.set(session)
        try:
            grant = provider.server.get_consent_grant(
                request=_authorization_request(provider, query)
            )
        except OAuth2Error as error:
            # the request's own state: a pushed request's or a request object's (RFC 9101
            # §6.3), not the outer URL's
            return _oauth_error(request, provider, error, _query_value(query, "state") or None)
        finally:
            current_session.reset(token)
        client = grant.request.client.client
        params = grant.request.payload.data
        redirect_uri = params.get("redirect_uri", "")
        state = params.get("state")
        for unsupported in ("request",):
            if unsupported in params:
                return _error_redirect(
                    provider, redirect_uri, f"{unsupported}_not_supported", None, state
                )
        if params.get("response_mode", "query") != "query":  # the only one (discovery)
            # answered in the query: a code in a fragment or a form the client did not ask for
            # would be worse than an error it can read (OAuth 2.0 Multiple Response Types §2)
            unsupported_mode = "only response_mode=query is supported"
            return _error_redirect(
                provider, redirect_uri, "invalid_request", unsupported_mode, state
            )
        try:  # the stated purpose (idp.oauth.purpose), where a scope needs one
            purpose.check_purpose(
                purpose.requested_purpose(query),
                str(params.get("scope", "")).split(),
                provider.scope_extensions,
            )
        except purpose.InvalidPurpose as invalid:
            return _error_redirect(provider, redirect_uri, "invalid_request", str(invalid), state)
        login = find_session(provider.ctx, session, request.cookies.get(SESSION_COOKIE))
        prompts = set(str(params.get("prompt", "")).split())
        silent = "none" in prompts  # OpenID Connect Core §3.1.2.1: no page at all
        if silent and len(prompts) > 1:
            alone = "prompt none goes with no other value"
            return _error_redirect(provider, redirect_uri, "invalid_request", alone, state)
        browser, new_cookie = browser_binding(provider, request)
        current = interactions.start(
            provider.cache,
            query,
            client.client_id,
            grant.request.scope or "",
            required_acr=_required_acr(params.get("acr_values")),
            browser=browser,
        )
        if login is not None and "login" not in prompts and _fresh_enough(provider, login, params):
            current = current.with_(person_id=login.person_id, session_public_id=login.public_id)
            interactions.save(provider.cache, current)
        page = _next_page(provider, session, current) if silent else None
        if page is not None:
            interactions.finish(provider.cache, current.id)
            answer = PROMPT_NONE_ERRORS[page]
            return _error_redirect(provider, redirect_uri, answer, None, state)
    response = RedirectResponse(f"/interaction/{current.id}", status_code=303)
    if new_cookie is not None:
        set_browser_cookie(provider, response, new_cookie)
    return response


def _fresh_enough(provider: Provider, login: LoginSession, params: dict[str, str]) -> bool:
    """``max_age`` (OpenID Connect Core §3.1.2.1): an older login logs in again."""
    max_age = params.get("max_age")
    if max_age is None:
        return True
    try:
        return (provider.ctx.clock() - login.auth_time).total_seconds() <= int(max_age)
    except ValueError:
        return False


def _required_acr(acr_values: str | None) -> str | None:
    """The lowest level among the requested ``acr_values`` that this provider knows
    (OpenID Connect Core §3.1.2.1); a session below it is stepped up."""
    known = [value for value in str(acr_values or "").split() if value in LOA_ORDER]
    return min(known, key=LOA_ORDER.index) if known else None


# The pages a person may still have to see before a code is issued, in order, and the
# error each becomes when the client asked for none (OpenID Connect Core §3.1.2.6).
LOGIN, SECOND_FACTOR, CHOOSE, CONSENT = "login", "second_factor", "choose", "consent"
PROMPT_NONE_ERRORS = {
    LOGIN: "login_required",
    SECOND_FACTOR: "login_required",
    CHOOSE: "interaction_required",
    CONSENT: "consent_required",
}


def _next_page(provider: Provider, session: Session, current: Interaction) -> str | None:
    """The page the person must see next, or None: the interaction can end with a code."""
    if current.person_id is None:
        return LOGIN
    if _below_required_level(_login_row(session, current.session_public_id), current):
        return SECOND_FACTOR
    if current.acting_as is None:  # not chosen yet: whom may the person act for?
        person = provider.identities.person_by_id(session, current.person_id)
        if person is not None and _acting_options(provider, session, current.person_id):
            return CHOOSE
    if current.consented:
        return None
    prompts = set(str(_query_value(current.query, "prompt")).split())
    covered = _covering_consent(session, current) is not None
    return CONSENT if not covered or "consent" in prompts else None


def _covering_consent(
    session: Session, current: Interaction, *, hold: bool = False
) -> ConsentRow | None:
    """The person's newest consent in force for this client (and organisation) that covers
    the request's scopes and its purpose (a consent is for one purpose), or None. ``hold``: read
    ``FOR SHARE`` in the grant's own transaction (on SQLite the write transaction holds the
    database), so that a withdrawal at the same moment either waits for the grant, then
    revokes it, or comes first and no grant is made (:func:`idp.admin.consents.withdraw_consent`
    updates the consent's row before it looks for grants)."""
    assert current.person_id is not None
    asked = set(current.scope.split())
    stated = purpose.purpose_of_query(current.query)
    held = active_consents(
        session, current.person_id, current.client_id, _organisation_id(current), hold=hold
    )
    for remembered in held:
        if asked <= set(remembered.scope.split()) and stated in (None, remembered.purpose):
            return remembered
    return None


def _organisation_id(current: Interaction) -> str | None:
    return None if current.acting_as in (None, "self") else current.acting_as


@router.get("/interaction/{interaction_id}", include_in_schema=False)
def interaction_page(request: Request, interaction_id: str, provider: ProviderDep) -> Response:
    current = load_interaction(request, provider, interaction_id)
    if isinstance(current, Response):
        return current
    action = f"/interaction/{current.id}"
    with provider.ctx.sessions() as session:
        client = provider.server.registered_client(session, current.client_id)
        if client is None:
            return render(request, "error.html", status=400, message="client")
        page = _next_page(provider, session, current)
        if page == LOGIN:
            return render(
                request,
                "login.html",
                action=f"{action}/login",
                csrf=current.csrf,
                client_name=client.name,
                error=None,
            )
        if page == SECOND_FACTOR:
            return second_factor_page(request, provider, current)
        assert current.person_id is not None  # past the login page
        if page == CHOOSE:
            person = provider.identities.person_by_id(session, current.person_id)
            assert person is not None  # _next_page found them
            return render(
                request,
                "choose.html",
                action=f"{action}/identity",
                csrf=current.csrf,
                person_name=person.name,
                organisations=_acting_options(provider, session, current.person_id),
            )
        if page == CONSENT:
            organisation = _acting_for(
                provider, session, current.person_id, _organisation_id(current)
            )
            lang = language(request)
            return render(
                request,
                "consent.html",
                action=f"{action}/consent",
                csrf=current.csrf,
                client_name=client.name,
                organisation=organisation,
                scopes=purpose.scope_labels(
                    provider.scope_extensions,
                    lang,
                    current.scope.split(),
                    scope_labels(lang, current.scope.split()),
                ),
                purpose=purpose.purpose_of_query(current.query),
            )
    return _finish(request, provider, current, _organisation_id(current))


def _login_row(session: Session, public_id: str | None) -> LoginSessionRow | None:
    if public_id is None:
        return None
    return session.scalars(
        select(LoginSessionRow).where(LoginSessionRow.public_id == public_id)
    ).first()


def _below_required_level(login: LoginSessionRow | None, current: Interaction) -> bool:
    """Whether the login is below the level the client asked for with ``acr_values``
    (OpenID Connect Core §3.1.2.1): the person steps up before consenting or getting a
    code, whichever page a form is posted from."""
    if not current.required_acr:
        return False
    return login is None or not loa_at_least(login.acr, current.required_acr)


def _login_still_open(session: Session, public_id: str | None) -> bool:
    """Whether the login session a grant is for is still open, read in the grant's own
    transaction and held there (``FOR SHARE`` on PostgreSQL; on SQLite the write
    transaction holds the database): a logout ending it at the same moment either waits
    for the grant, then revokes it with the session's others, or ends it first, and no
    grant is made (:func:`idp.logout.end_session_by_id` updates the session's row before
    it looks for its grants)."""
    if public_id is None:
        return False
    row = session.scalars(
        select(LoginSessionRow)
        .where(LoginSessionRow.public_id == public_id)
        .with_for_update(read=True)
    ).first()
    return row is not None and row.ended_at is None


def _query_value(query: str, name: str) -> str:
    values = parse_qs(query).get(name)
    return values[0] if values else ""


def _acting_options(provider: Provider, session: Session, person_id: str) -> list[Organisation]:
    """Whom the person may act for now: the active organisations they represent."""
    return provider.identities.organisations_represented_by(
        session, person_id, provider.ctx.clock()
    )


def _acting_for(
    provider: Provider, session: Session, person_id: str, organisation_id: str | None
) -> str | None:
    """The name of the organisation the person acts for, while they may."""
    if organisation_id is None:
        return None
    options = _acting_options(provider, session, person_id)
    return next((o.name for o in options if o.id == organisation_id), None)


@router.post("/interaction/{interaction_id}/login", include_in_schema=False)
def login_submit(
    request: Request,
    interaction_id: str,
    provider: ProviderDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str, Form(max_length=128)],
) -> Response:
    current = posted_interaction(request, provider, interaction_id, csrf, person=False)
    if isinstance(current, Response):
        return current
    ip = client_ip(
        request.client.host if request.client else "",
        request.headers.get("x-forwarded-for"),
        provider.trusted_proxies,
    )
    logged_in = attempt_password_login(
        provider, username, password, ip=ip, user_agent=request.headers.get("user-agent", "")
    )
    if logged_in is None:
        with provider.ctx.sessions() as session:
            client = provider.server.registered_client(session, current.client_id)
        lang = language(request)
        return render(
            request,
            "login.html",
            action=f"/interaction/{current.id}/login",
            csrf=current.csrf,
            client_name=client.name if client else "",
            error=TEXT[lang]["login_failed"],
        )
    current = current.with_(
        person_id=logged_in.person.id,
        session_public_id=logged_in.session.public_id,
        csrf=secrets.token_urlsafe(24),
    )
    interactions.save(provider.cache, current)
    response = RedirectResponse(f"/interaction/{current.id}", status_code=303)
    set_session_cookie(response, provider, logged_in.cookie)
    return response


@router.post("/interaction/{interaction_id}/identity", include_in_schema=False)
def identity_submit(
    request: Request,
    interaction_id: str,
    provider: ProviderDep,
    acting_as: Annotated[str, Form(max_length=64)],
    csrf: Annotated[str, Form(max_length=128)],
) -> Response:
    current = posted_interaction(request, provider, interaction_id, csrf)
    if isinstance(current, Response):
        return current
    assert current.person_id is not None  # _posted checked it
    if acting_as != "self":
        with provider.ctx.sessions() as session:
            allowed = {o.id for o in _acting_options(provider, session, current.person_id)}
        if acting_as not in allowed:
            lang = language(request)
            return render(request, "error.html", status=403, message=TEXT[lang]["bad_request"])
    interactions.save(provider.cache, current.with_(acting_as=acting_as))
    return RedirectResponse(f"/interaction/{current.id}", status_code=303)


@router.post("/interaction/{interaction_id}/consent", include_in_schema=False)
def consent_submit(
    request: Request,
    interaction_id: str,
    provider: ProviderDep,
    consent: Annotated[str, Form(max_length=8)],
    csrf: Annotated[str, Form(max_length=128)],
) -> Response:
    current = posted_interaction(request, provider, interaction_id, csrf)
    if isinstance(current, Response):
        return current
    assert current.person_id is not None  # _posted checked it
    organisation_id = _organisation_id(current)
    if consent != "allow":
        interactions.finish(provider.cache, current.id)
        return _authorization_response(request, provider, current, None)
    with provider.ctx.sessions() as session:
        login = _login_row(session, current.session_public_id)
    if _below_required_level(login, current):  # the step-up page comes first
        return RedirectResponse(f"/interaction/{current.id}", status_code=303)
    with transaction(provider.ctx.sessions) as session:
        person = provider.identities.person_by_id(session, current.person_id)
        given = ConsentRow(
            id=secrets.token_hex(16),
            person_id=current.person_id,
            client_id=current.client_id,
            organisation_id=organisation_id,
            scope=current.scope,
            granted_at=provider.ctx.clock(),
            purpose=purpose.purpose_of_query(current.query),
        )
        session.add(given)
        session.flush()
        provider.ctx.audit.record(
            session,
            AuditEvent(
                actor=current.person_id if person is None else person.subject,
                action="consent.granted",
                object_type="consent",
                object_id=given.id,
                details={
                    "client": given.client_id,
                    "organisation": organisation_id,
                    "scope": given.scope,
                    "purpose": given.purpose,
                },
            ),
        )
    interactions.save(provider.cache, current.with_(consented=True))
    return _finish(request, provider, current.with_(consented=True), organisation_id)


def _finish(
    request: Request, provider: Provider, current: Interaction, organisation_id: str | None
) -> Response:
    """Record the grant and answer the client with a code (RFC 6749 §4.1.2)."""
    assert current.person_id is not None
    with provider.ctx.sessions() as session:
        person = provider.identities.person_by_id(session, current.person_id)
        login = _login_row(session, current.session_public_id)
        # the representation chosen may have ended since (an agent's withdrawn)
        acting = (
            organisation_id is None
            or _acting_for(provider, session, current.person_id, organisation_id) is not None
        )
    if _below_required_level(login, current):  # the step-up page comes first
        return RedirectResponse(f"/interaction/{current.id}", status_code=303)
    # the interaction ends once: of two requests finishing it at once, one gets a code
    if (
        person is None
        or login is None
        or login.ended_at is not None
        or not acting
        or not interactions.finish(provider.cache, current.id)
    ):
        lang = language(request)
        return render(request, "error.html", status=400, message=TEXT[lang]["expired"])
    grant_id = secrets.token_hex(16)
    principal = Principal(
        person_id=person.id,
        subject=person.subject,
        grant_id=grant_id,
        auth_time=login.auth_time,
        acr=login.acr,
        amr=tuple(login.amr.split()),
        organisation_id=organisation_id,
        organisation_subject=f"org-{organisation_id}" if organisation_id else None,
        session_id=login.public_id,
    )
    return _authorization_response(request, provider, current, principal)


def _authorization_response(
    request: Request, provider: Provider, current: Interaction, principal: Principal | None
) -> Response:
    with transaction(provider.ctx.sessions) as session:
        if principal is not None:
            if not _login_still_open(session, principal.session_id):
                lang = language(request)
                return render(request, "error.html", status=400, message=TEXT[lang]["expired"])
            if _covering_consent(session, current, hold=True) is None:
                principal = None  # withdrawn meanwhile: the person's "no" (access_denied)
        if principal is not None:
            session.add(
                GrantRow(
                    id=principal.grant_id,
                    client_id=current.client_id,
                    person_id=principal.person_id,
                    subject=principal.subject,
                    organisation_id=principal.organisation_id,
                    organisation_subject=principal.organisation_subject,
                    scope=current.scope,
                    auth_time=principal.auth_time,
                    acr=principal.acr,
                    amr=" ".join(principal.amr),
                    session_id=principal.session_id,
                    created_at=provider.ctx.clock(),
                    purpose=purpose.purpose_of_query(current.query),
                )
            )
            session.flush()
        token = current_session.set(session)
        try:
            oauth_request = provider.server.create_oauth2_request(
                _authorization_request(provider, current.query)
            )
            grant = provider.server.get_consent_grant(request=oauth_request)
            response: Response = provider.server.create_authorization_response(
                request=oauth_request, grant_user=principal, grant=grant
            )
        except OAuth2Error as error:
            session.rollback()
            return _oauth_error(request, provider, error, _query_value(current.query, "state"))
        finally:
            current_session.reset(token)
    if response.status_code in (302, 307):
        response.status_code = 303
    return response
