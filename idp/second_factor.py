"""Second factors for level-of-assurance 2: TOTP (RFC 6238) or a one-time code by SMS; and
passkeys (W3C WebAuthn Level 2, :mod:`idp.passkeys`), which step up to level 3.

A TOTP secret is stored encrypted; the last accepted time step is stored too, so a code is
accepted once (RFC 6238 §5.2). SMS codes go through the pluggable sender (the embedded
default writes an outbox file; no SMS gateway is called).
"""

from __future__ import annotations

from sqlalchemy import select, update

from core.db.engine import transaction
from idp.accounts.storage import AccountRow
from idp.credentials.otp_sms import TooSoon
from idp.credentials.totp import new_secret, provisioning_uri, verify_totp
from idp.identities.storage import PHONE_KIND, PersonRow
from idp.oauth.sessions import LOA_ORDER
from idp.oauth.storage import LoginSessionRow
from idp.passkeys import service as passkeys
from idp.provider import Provider

TOTP_KIND = "totp"
# RFC 8176 §2 values per method; a passkey is used only with user verification (W3C
# WebAuthn Level 2 §7.2 step 17): a hardware-secured key ("hwk") and the user ("user").
AMR_OF_METHOD = {"totp": ("otp",), "sms": ("sms",), "passkey": ("hwk", "user")}
SMS_TEMPLATE = "【政务服务】您的登录验证码是{code}，{minutes}分钟内有效。请勿告诉他人。"

__all__ = [
    "TooSoon",
    "confirm_totp_enrolment",
    "enrol_totp",
    "methods",
    "send_sms_code",
    "start_totp_enrolment",
    "step_up",
    "verify",
]


def methods(provider: Provider, person_id: str) -> list[str]:
    with provider.ctx.sessions() as session:
        account = session.get(AccountRow, person_id)
        person = session.get(PersonRow, person_id)
    found = []
    if account is not None and account.totp_secret is not None:
        found.append("totp")
    if person is not None and person.phone_encrypted is not None:
        found.append("sms")
    if passkeys.has_passkey(provider, person_id):
        found.append("passkey")
    return found


def enrol_totp(provider: Provider, person_id: str, label: str) -> tuple[str, str]:
    """A new TOTP secret for the person: (secret, otpauth:// URI for the authenticator)."""
    secret = new_secret()
    with transaction(provider.ctx.sessions) as session:
        account = session.get(AccountRow, person_id)
        if account is None:
            account = AccountRow(person_id=person_id, updated_at=provider.ctx.clock())
            session.add(account)
        account.totp_secret = provider.protector.encrypt(TOTP_KIND, secret)
        account.totp_last_step = None
        account.updated_at = provider.ctx.clock()
    return secret, provisioning_uri(secret, label, "govtrust")


PENDING_TTL_SECONDS = 600


def start_totp_enrolment(provider: Provider, person_id: str, label: str) -> tuple[str, str]:
    """A new secret, kept pending until the person proves their authenticator has it."""
    secret = new_secret()
    provider.cache.set(
        f"totp-pending:{person_id}",
        provider.protector.encrypt(TOTP_KIND, secret),
        ttl=PENDING_TTL_SECONDS,
    )
    return secret, provisioning_uri(secret, label, "govtrust")


def confirm_totp_enrolment(provider: Provider, person_id: str, code: str) -> bool:
    """Activate the pending secret if ``code`` is right (RFC 6238); False otherwise."""
    pending = provider.cache.get(f"totp-pending:{person_id}")
    if pending is None:
        return False
    secret = provider.protector.decrypt(TOTP_KIND, pending)
    step = verify_totp(secret, code.strip(), provider.ctx.clock(), last_used_step=None)
    if step is None:
        return False
    with transaction(provider.ctx.sessions) as session:
        account = session.get(AccountRow, person_id)
        if account is None:
            account = AccountRow(person_id=person_id, updated_at=provider.ctx.clock())
            session.add(account)
        account.totp_secret, account.totp_last_step = pending, step
        account.updated_at = provider.ctx.clock()
    provider.cache.delete(f"totp-pending:{person_id}")
    return True


def send_sms_code(provider: Provider, person_id: str) -> None:
    """Raises :class:`TooSoon` within the resend interval."""
    with provider.ctx.sessions() as session:
        person = session.get(PersonRow, person_id)
        if person is None or person.phone_encrypted is None:
            return
        phone = provider.protector.decrypt(PHONE_KIND, bytes(person.phone_encrypted))
    provider.otp.send("login", person_id, phone, SMS_TEMPLATE)


def verify(provider: Provider, person_id: str, method: str, code: str) -> bool:
    code = code.strip()
    if method == "sms":
        return provider.otp.verify("login", person_id, code)
    if method != "totp":
        return False
    with transaction(provider.ctx.sessions) as session:
        account = session.get(AccountRow, person_id)
        if account is None or account.totp_secret is None:
            return False
        secret = provider.protector.decrypt(TOTP_KIND, bytes(account.totp_secret))
        step = verify_totp(
            secret, code, provider.ctx.clock(), last_used_step=account.totp_last_step
        )
        if step is None:
            return False
        # Claim the step atomically: of two requests with the same code, one wins.
        claimed = session.execute(
            update(AccountRow)
            .where(
                AccountRow.person_id == person_id,
                (AccountRow.totp_last_step.is_(None)) | (AccountRow.totp_last_step < step),
            )
            .values(totp_last_step=step)
        )
        return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


def step_up(provider: Provider, session_public_id: str, acr: str, method: str) -> None:
    """Raise the login session to ``acr``: a fresh authentication (OpenID Connect Core §2)."""
    with transaction(provider.ctx.sessions) as session:
        row = session.scalars(
            select(LoginSessionRow).where(LoginSessionRow.public_id == session_public_id)
        ).first()
        if row is None:
            return
        if LOA_ORDER.index(acr) > LOA_ORDER.index(row.acr):
            row.acr = acr
        amr = [value for value in row.amr.split() if value != "mfa"]
        amr += [value for value in AMR_OF_METHOD[method] if value not in amr]
        row.amr = " ".join([*amr, "mfa"])
        row.auth_time = provider.ctx.clock()
