"""Stepping a login session up (OpenID Connect Core §3.1.2.1 ``acr_values``): a TOTP or SMS
code to level 2 (RFC 6238; the pluggable SMS sender), a passkey to level 3 (W3C WebAuthn
Level 2 §7.2). Each posts back to the interaction, answers 303, and is throttled."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from core.audit.entry import AuditEvent
from core.db.engine import transaction
from idp import interaction as interactions
from idp import second_factor
from idp.interaction import Interaction
from idp.oauth.sessions import LOA_STRONG, LOA_TWO_FACTOR
from idp.pages import TEXT, language, render
from idp.passkeys import service as passkeys
from idp.provider import Provider
from idp.routers.interaction_forms import ProviderDep, posted_interaction

router = APIRouter(tags=["openid-connect"])


def second_factor_page(
    request: Request,
    provider: Provider,
    current: Interaction,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    assert current.person_id is not None
    offered = second_factor.methods(provider, current.person_id)
    strong = current.required_acr == LOA_STRONG  # only a passkey reaches level 3
    return render(
        request,
        "second_factor.html",
        action=f"/interaction/{current.id}",
        csrf=current.csrf,
        methods=[] if strong else [m for m in offered if m != "passkey"],
        passkey="passkey" in offered,
        passkey_needed=strong and "passkey" not in offered,
        error=error,
        notice=notice,
    )


@router.get("/interaction/{interaction_id}/passkey/options", include_in_schema=False)
def passkey_options(request: Request, interaction_id: str, provider: ProviderDep) -> Response:
    """``PublicKeyCredentialRequestOptions`` for the person logged in to the interaction,
    with a single-use challenge bound to it (W3C WebAuthn Level 2 §7.2 step 1)."""
    current = interactions.load(provider.cache, interaction_id)
    if current is None or current.person_id is None:
        return JSONResponse({"error": "invalid_request"}, 400, {"Cache-Control": "no-store"})
    options = passkeys.authentication_options(provider, current.id, current.person_id)
    if options is None:
        return JSONResponse({"error": "no_passkey"}, 404, {"Cache-Control": "no-store"})
    return JSONResponse(options, headers={"Cache-Control": "no-store"})


@router.post("/interaction/{interaction_id}/passkey", include_in_schema=False)
def passkey_submit(
    request: Request,
    interaction_id: str,
    provider: ProviderDep,
    credential: Annotated[str, Form(max_length=16384)],
    csrf: Annotated[str, Form(max_length=128)],
) -> Response:
    """A passkey assertion (W3C WebAuthn Level 2 §7.2, user verification required) steps
    the session up to level 3: amr ``hwk`` and ``user`` (RFC 8176)."""
    current = posted_interaction(request, provider, interaction_id, csrf)
    if isinstance(current, Response):
        return current
    if current.person_id is None or current.session_public_id is None:
        return RedirectResponse(f"/interaction/{current.id}", status_code=303)
    key = provider.ctx.digest("second-factor", current.person_id)
    ip = request.client.host if request.client else ""
    attempt = provider.throttle.begin(key, ip)
    try:
        if not attempt.allowed:
            raise passkeys.PasskeyRefused("throttled", "too many failures")
        passkeys.authenticate(provider, current.id, current.person_id, credential)
    except passkeys.PasskeyRefused:
        attempt.failed()
        lang = language(request)
        return second_factor_page(request, provider, current, error=TEXT[lang]["passkey_failed"])
    attempt.succeeded()
    second_factor.step_up(provider, current.session_public_id, LOA_STRONG, "passkey")
    with transaction(provider.ctx.sessions) as session:
        provider.ctx.audit.record(
            session,
            AuditEvent(
                actor=current.person_id,
                action="login.stepped_up",
                object_type="session",
                object_id=current.session_public_id,
                details={"acr": LOA_STRONG, "method": "passkey"},
            ),
        )
    return RedirectResponse(f"/interaction/{current.id}", status_code=303)


@router.post("/interaction/{interaction_id}/sms", include_in_schema=False)
def sms_submit(
    request: Request,
    interaction_id: str,
    provider: ProviderDep,
    csrf: Annotated[str, Form(max_length=128)],
) -> Response:
    current = posted_interaction(request, provider, interaction_id, csrf)
    if isinstance(current, Response):
        return current
    assert current.person_id is not None  # _posted checked it
    lang = language(request)
    try:
        second_factor.send_sms_code(provider, current.person_id)
    except second_factor.TooSoon as wait:
        return second_factor_page(
            request,
            provider,
            current,
            error=TEXT[lang]["sms_too_soon"].format(seconds=wait.retry_after),
        )
    return second_factor_page(request, provider, current, notice=TEXT[lang]["sms_sent"])


@router.post("/interaction/{interaction_id}/second-factor", include_in_schema=False)
def second_factor_submit(
    request: Request,
    interaction_id: str,
    provider: ProviderDep,
    method: Annotated[str, Form(max_length=8)],
    otp: Annotated[str, Form(max_length=12)],
    csrf: Annotated[str, Form(max_length=128)],
) -> Response:
    current = posted_interaction(request, provider, interaction_id, csrf)
    if isinstance(current, Response):
        return current
    if current.person_id is None or current.session_public_id is None:
        return RedirectResponse(f"/interaction/{current.id}", status_code=303)
    key = provider.ctx.digest("second-factor", current.person_id)
    ip = request.client.host if request.client else ""
    attempt = provider.throttle.begin(key, ip)
    ok = attempt.allowed and second_factor.verify(provider, current.person_id, method, otp)
    if not ok:
        attempt.failed()
        lang = language(request)
        return second_factor_page(request, provider, current, error=TEXT[lang]["otp_failed"])
    attempt.succeeded()
    second_factor.step_up(provider, current.session_public_id, LOA_TWO_FACTOR, method)
    with transaction(provider.ctx.sessions) as session:
        provider.ctx.audit.record(
            session,
            AuditEvent(
                actor=current.person_id,
                action="login.stepped_up",
                object_type="session",
                object_id=current.session_public_id,
                details={"acr": LOA_TWO_FACTOR, "method": method},
            ),
        )
    return RedirectResponse(f"/interaction/{current.id}", status_code=303)
