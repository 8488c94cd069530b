"""The counter's and hotline's backchannel authentication, end to end (OpenID Connect CIBA
Core 1.0), over the provider's parts; the protocol checks are in :mod:`idp.grants.ciba`,
the storage in :mod:`idp.oauth.ciba`.

1. :func:`start`: the client's authentication request (§7) is checked, the person looked up
   by the blind index of the ID number, the request stored (hash of ``auth_req_id`` only)
   and audited, and, when the person registered a mobile number, a one-time code sent to
   it by SMS with the client's name, the binding message and the address of the page
   where the code is entered (:mod:`idp.credentials.otp_sms`; the code exists in clear only
   in the SMS).
2. The person answers, either logged in on the app or the web (the list of their pending
   requests at ``/ciba``; the grant has the login session's ``acr``/``amr``), or on the page
   of the SMS with its code (``amr`` ``sms``, the lowest level, as any single factor).
   :func:`decide` records the answer once, and for an approval a grant.
3. In ping mode (§10.2) the client's notification endpoint is then called with
   ``{"auth_req_id": ...}`` and its ``client_notification_token`` as Bearer token; a failed
   ping is logged (without secrets) and the client may still poll.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import httpx

from core.audit.entry import AuditEvent
from core.db.engine import transaction
from core.errors.oauth import OAuthError
from core.identifiers.errors import InvalidIdentifier
from idp.clients.models import Client
from idp.grants.ciba import check_authentication_request
from idp.identities.storage import PHONE_KIND, PersonRow
from idp.oauth.ciba import (
    INTERVAL_SECONDS,
    CibaCache,
    CibaRequest,
    PingTarget,
    SqlCibaStore,
    expires_at,
    new_auth_req_id,
)
from idp.oauth.sessions import LOA_PASSWORD
from idp.oauth.storage import GrantRow
from idp.provider import Provider

log = logging.getLogger(__name__)

OTP_PURPOSE = "ciba"
SMS_TEMPLATE = (
    "【政务服务】{client}请求确认由您本人办理业务{binding}。如是本人，请打开 {link} "
    "输入验证码{code}确认，{minutes}分钟内有效；如非本人操作请忽略，勿将验证码告诉他人。"
)


@dataclass(frozen=True)
class Decided:
    request: CibaRequest
    approved: bool


def start(provider: Provider, client: Client, data: dict[str, str]) -> dict[str, Any]:
    """Checks and stores an authentication request; the §7.3 response. Raises OAuthError."""
    ctx = provider.ctx
    checked = check_authentication_request(client, data)
    now = ctx.clock()
    auth_req_id = new_auth_req_id()
    request = CibaRequest(
        id=secrets.token_hex(16),
        auth_req_hash=ctx.digest("auth_req_id", auth_req_id),
        client_id=client.client_id,
        person_id="",
        scope=checked.scope,
        binding_message=checked.binding_message,
        staff_id=checked.staff_id,
        delivery_mode=client.backchannel_token_delivery_mode or "poll",
        interval=INTERVAL_SECONDS,
        created_at=now,
        expires_at=expires_at(now, checked.expires_in),
        decided_at=None,
        approved=None,
        grant_id=None,
        consumed_at=None,
    )
    phone: str | None = None
    with transaction(ctx.sessions) as session:
        try:
            person = provider.identities.person_by_id_number(
                session, provider.protector, checked.login_hint
            )
        except InvalidIdentifier:
            raise OAuthError(
                "invalid_request", "login_hint is not a valid resident ID number"
            ) from None
        if person is None or person.status != "active":
            raise OAuthError("unknown_user_id", "no person of this provider has this ID number")
        request = replace(request, person_id=person.id)
        SqlCibaStore().add(session, request)
        row = session.get(PersonRow, person.id)
        if row is not None and row.phone_encrypted is not None:
            phone = provider.protector.decrypt(PHONE_KIND, bytes(row.phone_encrypted))
        ctx.audit.record(
            session,
            AuditEvent(
                actor=client.client_id,
                action="oauth.ciba_requested",
                object_type="ciba_request",
                object_id=request.id,
                details={
                    "subject": person.subject,
                    "scope": request.scope,
                    "staff_id": request.staff_id,
                    "delivery_mode": request.delivery_mode,
                },
            ),
        )
    if checked.client_notification_token is not None:
        CibaCache(provider.cache).keep_ping_target(
            request.id,
            PingTarget(auth_req_id, checked.client_notification_token),
            ttl=checked.expires_in,
        )
    if phone is not None:
        _send_code(provider, client, request, phone)
    return {
        "auth_req_id": auth_req_id,
        "expires_in": checked.expires_in,
        "interval": request.interval,
    }


def _send_code(provider: Provider, client: Client, request: CibaRequest, phone: str) -> None:
    binding = f"（核对码：{request.binding_message}）" if request.binding_message else ""
    template = (
        SMS_TEMPLATE.replace("{client}", client.name)
        .replace("{binding}", binding)
        .replace("{link}", f"{provider.ctx.issuer}/ciba/{request.id}")
    )
    try:
        provider.otp.send(OTP_PURPOSE, request.id, phone, template)
    except Exception:  # the person can still answer in the app; never fail the request
        log.warning("ciba sms not sent", extra={"ciba_request": request.id})


def pending(provider: Provider, person_id: str) -> list[tuple[CibaRequest, str]]:
    """The person's requests waiting for an answer, each with the client's name."""
    ctx = provider.ctx
    with ctx.sessions() as session:
        found = SqlCibaStore().pending_for(session, person_id, ctx.clock())
        names = {}
        for request in found:
            client = provider.server.clients.get(session, request.client_id)
            names[request.id] = client.name if client is not None else request.client_id
    return [(request, names[request.id]) for request in found]


def open_request(provider: Provider, request_id: str) -> tuple[CibaRequest, Client] | None:
    """An undecided, unexpired request and its active client; None otherwise."""
    ctx = provider.ctx
    if not request_id or len(request_id) > 32 or not request_id.isalnum():
        return None
    with ctx.sessions() as session:
        request = SqlCibaStore().by_id(session, request_id)
        if request is None:
            return None
        client = provider.server.clients.get(session, request.client_id)
    if (
        client is None
        or not client.active
        or request.decided_at is not None
        or request.expired(ctx.clock())
    ):
        return None
    return request, client


def verify_code(provider: Provider, request_id: str, code: str) -> bool:
    return provider.otp.verify(OTP_PURPOSE, request_id, code)


def decide(
    provider: Provider,
    request: CibaRequest,
    *,
    person_id: str,
    approved: bool,
    acr: str = LOA_PASSWORD,
    amr: tuple[str, ...] = ("sms",),
    auth_time: datetime | None = None,
    session_id: str | None = None,
) -> Decided | None:
    """Record the person's answer once (and for an approval, a grant); then ping the client
    in ping mode. None when the request is not this person's, expired or answered."""
    ctx = provider.ctx
    now = ctx.clock()
    if request.person_id != person_id or request.expired(now):
        return None
    with transaction(ctx.sessions) as session:
        person = provider.identities.person_by_id(session, person_id)
        if person is None or person.status != "active":
            return None
        grant_id = secrets.token_hex(16) if approved else None
        if grant_id is not None:
            session.add(
                GrantRow(
                    id=grant_id,
                    client_id=request.client_id,
                    person_id=person.id,
                    subject=person.subject,
                    scope=request.scope,
                    auth_time=auth_time or now,
                    acr=acr,
                    amr=" ".join(amr),
                    session_id=session_id,
                    created_at=now,
                )
            )
            session.flush()
        if not SqlCibaStore().decide(
            session, request.id, approved=approved, grant_id=grant_id, now=now
        ):
            session.rollback()
            return None
        ctx.audit.record(
            session,
            AuditEvent(
                actor=person.subject,
                action="oauth.ciba_approved" if approved else "oauth.ciba_denied",
                object_type="ciba_request",
                object_id=request.id,
                details={"client_id": request.client_id, "grant_id": grant_id, "amr": list(amr)},
            ),
        )
    if request.delivery_mode == "ping":
        ping(provider, request)
    return Decided(request, approved)


def ping(provider: Provider, request: CibaRequest) -> bool:
    """The ping callback (§10.2): POST ``{"auth_req_id"}`` to the client's notification
    endpoint, with the ``client_notification_token`` as Bearer token (RFC 6750)."""
    target = CibaCache(provider.cache).take_ping_target(request.id)
    with provider.ctx.sessions() as session:
        client = provider.server.clients.get(session, request.client_id)
    endpoint = client.backchannel_client_notification_endpoint if client else None
    if target is None or endpoint is None:
        return False
    try:
        response = provider.http.post(
            endpoint,
            json={"auth_req_id": target.auth_req_id},
            headers={"Authorization": f"Bearer {target.client_notification_token}"},
        )
    except httpx.HTTPError:
        log.warning("ciba ping failed", extra={"ciba_request": request.id})
        return False
    if response.status_code >= 300:
        log.warning(
            "ciba ping refused",
            extra={"ciba_request": request.id, "status": response.status_code},
        )
        return False
    return True
