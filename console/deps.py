"""Who is looking at a console page: the session behind the cookie, its access token checked
as the service's APIs check it, and the roles it gives.

Every request checks the person's access token with
:func:`idp.routers.bearer.token_context`, so a session the person ended elsewhere, a
withdrawn consent, a disabled console client or a deactivated person logs the console out at
the next click. An access token about to expire is refreshed first (one request at a time
per session: refresh tokens rotate, and a reused one revokes the whole grant).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Request

from console import auth, csrf
from console.client import PREFIX, client_secret, ensure_console_client
from console.platform import REQUIRED_ACR
from console.roles import Roles, detect_roles
from console.session import COOKIE, ConsoleSession, SessionStore
from core.services import Services
from idp.oauth.sessions import loa_at_least
from idp.oauth.storage import GrantRow
from idp.routers.bearer import BearerError, TokenContext, token_context

REFRESH_MARGIN_SECONDS = 30
REFRESH_WAIT_SECONDS = 5.0


class LoginRequired(Exception):
    """No valid console session: log in (again)."""


class Forbidden(Exception):
    """Logged in, but without the role this page needs."""


class CsrfRefused(Exception):
    """A form without this session's CSRF token, or from another origin."""


class StepUpRequired(Exception):
    """The session's level of assurance is below ``acr``: log in again at that level
    (OpenID Connect Core §3.1.2.1 ``acr_values``) and come back to ``next_path``."""

    def __init__(self, acr: str, next_path: str) -> None:
        super().__init__(acr)
        self.acr = acr
        self.next_path = next_path


@dataclass(frozen=True)
class Viewer:
    cookie: str
    session: ConsoleSession
    token: TokenContext
    roles: Roles
    name: str
    acting_for: str | None
    """The organisation's name, when the person logged in to act for one."""

    @property
    def person_id(self) -> str:
        assert self.token.person_id is not None  # token_context(person=True)
        return self.token.person_id

    @property
    def actor(self) -> str:
        """The person's subject, as the audit trail names them."""
        return self.token.act_sub or self.token.sub


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    if not getattr(request.app.state, "console_client_ready", False):
        ensure_console_client(services)
        request.app.state.console_client_ready = True
    return services


ServicesDep = Annotated[Services, Depends(services_of)]


def store_of(services: Services) -> SessionStore:
    return SessionStore(services.cache)


def _refreshed(
    services: Services, store: SessionStore, cookie: str, session: ConsoleSession
) -> ConsoleSession:
    provider = services.idp
    now = provider.ctx.clock().timestamp()
    if session.access_expires_at - now > REFRESH_MARGIN_SECONDS or not session.refresh_token:
        return session
    lock = "console:refresh:" + hashlib.sha256(cookie.encode()).hexdigest()
    if not services.cache.add(lock, b"1", ttl=REFRESH_WAIT_SECONDS * 2):
        deadline = time.monotonic() + REFRESH_WAIT_SECONDS
        while time.monotonic() < deadline:  # another request of this session refreshes
            time.sleep(0.05)
            current = store.load(cookie)
            if current is None or current.access_expires_at > session.access_expires_at:
                return current or session
        return session
    try:
        # as stored now: a request of this session that held the lock just before may have
        # refreshed already, and its refresh token is spent (presenting it again would be
        # a reuse, which revokes the grant and ends the session)
        latest = store.load(cookie)
        if latest is None or latest.access_expires_at > session.access_expires_at:
            return latest or session
        tokens = auth.refresh(provider, client_secret(services), session.refresh_token)
    except auth.LoginFailed:
        return session  # the token check below ends the session
    else:
        updated = session.with_tokens(
            tokens.access_token,
            tokens.refresh_token,
            tokens.id_token or None,
            now + tokens.expires_in,
        )
        store.save(cookie, updated)
        return updated
    finally:
        services.cache.delete(lock)


def _acting_for(services: Services, token: TokenContext) -> str | None:
    if token.act_sub is None or token.grant_id is None:
        return None
    with services.sessions() as session:
        grant = session.get(GrantRow, token.grant_id)
        if grant is None or grant.organisation_id is None:
            return None
        organisation = services.idp.identities.organisation_by_id(session, grant.organisation_id)
    return None if organisation is None else organisation.name


def current_viewer(request: Request, services: ServicesDep) -> Viewer:
    store = store_of(services)
    cookie = request.cookies.get(COOKIE)
    session = store.load(cookie)
    if cookie is None or session is None:
        raise LoginRequired()
    session = _refreshed(services, store, cookie, session)
    try:
        token = token_context(services.idp, session.access_token, frozenset(), person=True)
    except BearerError:
        store.delete(cookie)
        raise LoginRequired() from None
    store.touch(cookie)
    with services.sessions() as db:
        person = services.idp.identities.person_by_id(db, session.person_id)
    if person is None or token.person_id != session.person_id:
        store.delete(cookie)
        raise LoginRequired()
    return Viewer(
        cookie=cookie,
        session=session,
        token=token,
        roles=detect_roles(services, token, person.subject),
        name=person.name,
        acting_for=_acting_for(services, token),
    )


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


def holder_viewer(viewer: CurrentViewer) -> Viewer:
    if not viewer.roles.holder:
        raise Forbidden()
    return viewer


def licence_admin_viewer(viewer: CurrentViewer) -> Viewer:
    if not viewer.roles.licence_admin:
        raise Forbidden()
    return viewer


def approver_viewer(viewer: CurrentViewer) -> Viewer:
    if not viewer.roles.approver:
        raise Forbidden()
    return viewer


def seal_admin_viewer(viewer: CurrentViewer) -> Viewer:
    if not viewer.roles.seal_admin:
        raise Forbidden()
    return viewer


def platform_admin_viewer(request: Request, viewer: CurrentViewer) -> Viewer:
    """A platform administrator, logged in at :data:`console.platform.REQUIRED_ACR`."""
    if not viewer.roles.platform_admin:
        raise Forbidden()
    if not loa_at_least(viewer.token.acr or "", REQUIRED_ACR):
        target = request.url.path if request.method in ("GET", "HEAD") else f"{PREFIX}/platform"
        raise StepUpRequired(REQUIRED_ACR, target)
    return viewer


HolderViewer = Annotated[Viewer, Depends(holder_viewer)]
LicenceAdminViewer = Annotated[Viewer, Depends(licence_admin_viewer)]
ApproverViewer = Annotated[Viewer, Depends(approver_viewer)]
SealAdminViewer = Annotated[Viewer, Depends(seal_admin_viewer)]
PlatformAdminViewer = Annotated[Viewer, Depends(platform_admin_viewer)]


def checked_form(
    request: Request,
    viewer: CurrentViewer,
    services: ServicesDep,
    token: Annotated[str, Form(alias=csrf.FIELD, max_length=128)] = "",
) -> Viewer:
    """The viewer of a POSTed form that carries this session's CSRF token."""
    if not csrf.same_origin(request.headers.get("origin"), services.idp.ctx.issuer):
        raise CsrfRefused()
    if not csrf.valid(viewer.session.csrf, token):
        raise CsrfRefused()
    return viewer


FormViewer = Annotated[Viewer, Depends(checked_form)]
