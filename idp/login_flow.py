"""One password login as the pages do it: throttle, check, start the session, audit, cookie.

Shared by the authorization pages and the device verification page, so that both lock out,
slow down and answer exactly alike (no enumeration, no oracle).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.responses import Response

from core.audit.entry import AuditEvent
from core.db.engine import transaction
from idp.identities.models import Person
from idp.login import account_key, password_login, refuse_without_checking
from idp.oauth.sessions import LOA_PASSWORD, SESSION_COOKIE, LoginSession, start_session
from idp.provider import Provider


@dataclass(frozen=True)
class LoggedIn:
    person: Person
    session: LoginSession
    cookie: str


def attempt_password_login(
    provider: Provider,
    username: str,
    password: str,
    *,
    ip: str,
    user_agent: str,
    via: str | None = None,
) -> LoggedIn | None:
    """A new login session for the person, or None (wrong password, unknown person and a
    locked account all look the same, and take the same time)."""
    attempt = provider.throttle.begin(account_key(provider, username), ip)
    person = None
    if attempt.allowed:
        person = password_login(provider, username, password)
    else:  # locked: looks exactly like a wrong password (no enumeration, no oracle)
        refuse_without_checking(provider, password)
    if attempt.delay_seconds:
        time.sleep(attempt.delay_seconds)
    if person is None:
        attempt.failed()
        return None
    attempt.succeeded()
    details: dict[str, object] = {"acr": LOA_PASSWORD}
    if via:
        details["via"] = via
    with transaction(provider.ctx.sessions) as session:
        cookie, login = start_session(
            provider.ctx, session, person.id, LOA_PASSWORD, ("pwd",), user_agent
        )
        provider.ctx.audit.record(
            session,
            AuditEvent(
                actor=person.subject,
                action="login.succeeded",
                object_type="session",
                object_id=login.public_id,
                details=details,
            ),
        )
    return LoggedIn(person, login, cookie)


def set_session_cookie(response: Response, provider: Provider, cookie: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        secure=provider.secure_cookies,
        samesite="lax",
        path="/",
        max_age=int(provider.ctx.lifetimes.login_session.total_seconds()),
    )
