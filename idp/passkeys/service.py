"""Passkey ceremonies with their state: challenges, credentials, counters, audit.

Registration (W3C WebAuthn Level 2 §7.1) is started from the self-service API: the options
carry a random challenge kept in the shared cache for five minutes under the person, used
once. Authentication (§7.2) steps a login session up to level of assurance 3: its challenge
is bound to the interaction and to the person logged in to it, used once, and user
verification is required. The relying party id is the issuer's host, the expected origin
the issuer's origin (§5.1.2, §7.1 step 9).

Every registration, use, refusal and revocation is audited, with the passkey's opaque id
(or the person's internal id when no passkey is known), never an ID number.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core.audit.entry import AuditEvent
from core.db.engine import transaction
from idp.admin.errors import NotFound
from idp.identities.storage import PersonRow
from idp.passkeys.storage import PasskeyRow, credential_hash
from idp.passkeys.webauthn import (
    SUPPORTED_ALGORITHMS,
    Assertion,
    WebAuthnError,
    b64url_decode,
    b64url_encode,
    counter_advances,
    verify_assertion,
    verify_registration,
)
from idp.provider import Provider

CHALLENGE_TTL_SECONDS = 300
TIMEOUT_MS = CHALLENGE_TTL_SECONDS * 1000
MAX_PASSKEYS = 20
TRANSPORTS = frozenset({"usb", "nfc", "ble", "internal", "hybrid", "smart-card"})
RP_NAME = "govtrust"


class PasskeyRefused(Exception):
    """A ceremony that failed; ``reason`` is the audited slug, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Passkey:
    id: str
    name: str
    aaguid: str
    algorithm: int
    transports: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: PasskeyRow) -> Passkey:
        return cls(
            id=row.id,
            name=row.name,
            aaguid=row.aaguid,
            algorithm=row.algorithm,
            transports=tuple(row.transports.split()),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


@dataclass(frozen=True)
class AttestationResponse:
    """An ``AuthenticatorAttestationResponse`` (§5.2.1) with the credential's raw id."""

    credential_id: bytes
    client_data_json: bytes
    attestation_object: bytes
    transports: tuple[str, ...] = ()


@dataclass(frozen=True)
class AssertionResponse:
    """An ``AuthenticatorAssertionResponse`` (§5.2.2) with the credential's raw id."""

    credential_id: bytes
    client_data_json: bytes
    authenticator_data: bytes
    signature: bytes
    user_handle: bytes | None = None


def assertion_from_json(text: str) -> AssertionResponse:
    """The assertion as the page posts it: the credential's id and response fields in
    base64url (the JSON form of WebAuthn Level 3 §5.1.8)."""
    try:
        data = json.loads(text)
        response = data["response"]
        handle = response.get("userHandle")
        if data.get("type", "public-key") != "public-key":
            raise ValueError("not a public key credential")
        return AssertionResponse(
            credential_id=b64url_decode(str(data.get("rawId") or data["id"])),
            client_data_json=b64url_decode(str(response["clientDataJSON"])),
            authenticator_data=b64url_decode(str(response["authenticatorData"])),
            signature=b64url_decode(str(response["signature"])),
            user_handle=b64url_decode(str(handle)) if handle else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PasskeyRefused("malformed", "the assertion is not well formed") from exc


def relying_party(issuer: str) -> tuple[str, str]:
    """(RP id, origin): the issuer's host (§5.1.2 RP ID) and its origin (RFC 6454)."""
    parts = urlsplit(issuer)
    host = (parts.hostname or "").lower()
    default = {"https": 443, "http": 80}.get(parts.scheme)
    port = f":{parts.port}" if parts.port is not None and parts.port != default else ""
    return host, f"{parts.scheme}://{host}{port}"


def user_handle(provider: Provider, person_id: str) -> bytes:
    """The WebAuthn user handle: opaque, stable, no personal data (§14.6.1)."""
    return bytes.fromhex(provider.ctx.digest("passkey-user", person_id))


def _take(provider: Provider, key: str) -> dict[str, str] | None:
    """A cached challenge, removed as it is read: of two requests with it, one wins."""
    raw = provider.cache.get(key)
    if raw is None or not provider.cache.delete(key):
        return None
    value: dict[str, str] = json.loads(raw)
    return value


def _audit(
    provider: Provider,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    **details: Any,
) -> None:
    with transaction(provider.ctx.sessions) as session:
        provider.ctx.audit.record(
            session,
            AuditEvent(
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=object_id,
                details=details,
            ),
        )


def _active(provider: Provider, person_id: str) -> list[PasskeyRow]:
    with provider.ctx.sessions() as session:
        return list(
            session.scalars(
                select(PasskeyRow)
                .where(PasskeyRow.person_id == person_id, PasskeyRow.revoked_at.is_(None))
                .order_by(PasskeyRow.created_at, PasskeyRow.id)
            )
        )


def _descriptor(row: PasskeyRow) -> dict[str, Any]:
    """A ``PublicKeyCredentialDescriptor`` (§5.8.3)."""
    found: dict[str, Any] = {"type": "public-key", "id": b64url_encode(row.credential_id)}
    if row.transports:
        found["transports"] = row.transports.split()
    return found


def has_passkey(provider: Provider, person_id: str) -> bool:
    return bool(_active(provider, person_id))


def passkeys_of(provider: Provider, person_id: str) -> list[Passkey]:
    with provider.ctx.sessions() as session:
        rows = session.scalars(
            select(PasskeyRow)
            .where(PasskeyRow.person_id == person_id)
            .order_by(PasskeyRow.created_at, PasskeyRow.id)
        )
        return [Passkey.of(row) for row in rows]


# --- registration (§7.1) ------------------------------------------------------------------


def registration_options(provider: Provider, person_id: str, display_name: str) -> dict[str, Any]:
    """``PublicKeyCredentialCreationOptions`` (§5.4), binary members in base64url: a new
    challenge (§13.4.3: 16 bytes or more, random), the person's opaque handle, ES256,
    EdDSA and RS256, user verification required, no attestation, and the person's
    passkeys excluded so an authenticator is not registered twice."""
    rp_id, _ = relying_party(provider.ctx.issuer)
    challenge = secrets.token_bytes(32)
    provider.cache.set(
        f"passkey-registration:{person_id}",
        json.dumps({"challenge": b64url_encode(challenge)}).encode(),
        ttl=CHALLENGE_TTL_SECONDS,
    )
    return {
        "rp": {"id": rp_id, "name": RP_NAME},
        "user": {
            "id": b64url_encode(user_handle(provider, person_id)),
            "name": display_name,
            "displayName": display_name,
        },
        "challenge": b64url_encode(challenge),
        "pubKeyCredParams": [{"type": "public-key", "alg": alg} for alg in SUPPORTED_ALGORITHMS],
        "timeout": TIMEOUT_MS,
        "excludeCredentials": [_descriptor(row) for row in _active(provider, person_id)],
        "authenticatorSelection": {
            "residentKey": "preferred",
            "requireResidentKey": False,
            "userVerification": "required",
        },
        "attestation": "none",
    }


def register(
    provider: Provider, person_id: str, actor: str, name: str, response: AttestationResponse
) -> Passkey:
    """Verify an attestation against the person's pending challenge (used once, §7.1
    steps 5-21), check the credential is new (step 22), and store it (step 23)."""
    try:
        return _register(provider, person_id, name, response, actor)
    except PasskeyRefused as refused:
        _audit(
            provider,
            actor,
            "passkey.registration_refused",
            "person",
            person_id,
            reason=refused.reason,
        )
        raise


def _register(
    provider: Provider, person_id: str, name: str, response: AttestationResponse, actor: str
) -> Passkey:
    pending = _take(provider, f"passkey-registration:{person_id}")
    if pending is None:
        raise PasskeyRefused("no-challenge", "no registration was started, or it expired")
    rp_id, origin = relying_party(provider.ctx.issuer)
    try:
        verified = verify_registration(
            client_data_json=response.client_data_json,
            attestation_object=response.attestation_object,
            challenge=b64url_decode(pending["challenge"]),
            origin=origin,
            rp_id=rp_id,
        )
    except WebAuthnError as error:
        raise PasskeyRefused(error.reason, str(error)) from error
    if verified.credential_id != response.credential_id:
        raise PasskeyRefused("malformed", "the credential id does not match its attestation")
    now = provider.ctx.clock()
    row = PasskeyRow(
        id=secrets.token_hex(16),
        credential_hash=credential_hash(verified.credential_id),
        credential_id=verified.credential_id,
        person_id=person_id,
        public_key=verified.public_key,
        algorithm=verified.algorithm,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        transports=" ".join(sorted(set(response.transports) & TRANSPORTS)),
        name=name,
        created_at=now,
    )
    try:
        with transaction(provider.ctx.sessions) as session:
            # the person's row is held until the commit, so that two registrations at once
            # cannot both count the same passkeys and both add one past the limit
            session.get(PersonRow, person_id, with_for_update=True)
            active = session.scalar(
                select(func.count())
                .select_from(PasskeyRow)
                .where(PasskeyRow.person_id == person_id, PasskeyRow.revoked_at.is_(None))
            )
            if (active or 0) >= MAX_PASSKEYS:
                raise PasskeyRefused("too-many", f"at most {MAX_PASSKEYS} passkeys per person")
            taken = session.scalars(
                select(PasskeyRow.id).where(PasskeyRow.credential_hash == row.credential_hash)
            ).first()
            if taken is not None:
                raise PasskeyRefused("already-registered", "this credential is registered")
            session.add(row)
            session.flush()
            provider.ctx.audit.record(
                session,
                AuditEvent(
                    actor=actor,
                    action="passkey.registered",
                    object_type="passkey",
                    object_id=row.id,
                    details={
                        "aaguid": verified.aaguid,
                        "algorithm": verified.algorithm,
                        "attestation": verified.attestation_format,
                        "backup_eligible": verified.backup_eligible,
                    },
                ),
            )
            info = Passkey.of(row)
    except IntegrityError as exc:  # registered concurrently
        raise PasskeyRefused("already-registered", "this credential is registered") from exc
    return info


def revoke(provider: Provider, person_id: str, passkey_id: str, actor: str) -> Passkey:
    """Revoke one of the person's passkeys; another person's answers like a missing one."""
    with transaction(provider.ctx.sessions) as session:
        row = session.get(PasskeyRow, passkey_id)
        if row is None or row.person_id != person_id:
            raise NotFound("passkey")
        if row.revoked_at is None:
            row.revoked_at = provider.ctx.clock()
            provider.ctx.audit.record(
                session,
                AuditEvent(
                    actor=actor, action="passkey.revoked", object_type="passkey", object_id=row.id
                ),
            )
        session.flush()
        return Passkey.of(row)


# --- authentication (§7.2) ----------------------------------------------------------------


def _authentication_key(interaction_id: str) -> str:
    return f"passkey-authentication:{interaction_id}"


def authentication_options(
    provider: Provider, interaction_id: str, person_id: str
) -> dict[str, Any] | None:
    """``PublicKeyCredentialRequestOptions`` (§5.5) for the person logged in to the
    interaction, with a challenge bound to both; None when the person has no passkey."""
    rows = _active(provider, person_id)
    if not rows:
        return None
    rp_id, _ = relying_party(provider.ctx.issuer)
    challenge = secrets.token_bytes(32)
    provider.cache.set(
        _authentication_key(interaction_id),
        json.dumps({"challenge": b64url_encode(challenge), "person_id": person_id}).encode(),
        ttl=CHALLENGE_TTL_SECONDS,
    )
    return {
        "challenge": b64url_encode(challenge),
        "timeout": TIMEOUT_MS,
        "rpId": rp_id,
        "allowCredentials": [_descriptor(row) for row in rows],
        "userVerification": "required",
    }


def authenticate(
    provider: Provider, interaction_id: str, person_id: str, posted: AssertionResponse | str
) -> Assertion:
    """Verify an assertion (or its JSON, as the page posts it) for the interaction's person
    (§7.2); on success the stored counter and last use are updated. The challenge is used
    up whatever the outcome. Raises :class:`PasskeyRefused` (audited)."""
    row_id: str | None = None
    try:
        pending = _take(provider, _authentication_key(interaction_id))
        if pending is None or pending.get("person_id") != person_id:
            raise PasskeyRefused("no-challenge", "no passkey challenge for this login")
        response = assertion_from_json(posted) if isinstance(posted, str) else posted
        with provider.ctx.sessions() as session:
            row = session.scalars(
                select(PasskeyRow).where(
                    PasskeyRow.credential_hash == credential_hash(response.credential_id)
                )
            ).first()
        # §7.2 steps 5-7: one of the person's own passkeys, still in force
        if row is None:
            raise PasskeyRefused("unknown-credential", "this passkey is not registered")
        if row.person_id != person_id:
            raise PasskeyRefused("not-owner", "this passkey is someone else's")
        row_id = row.id
        if row.revoked_at is not None:
            raise PasskeyRefused("revoked", "this passkey has been revoked")
        if response.user_handle is not None and response.user_handle != user_handle(
            provider, person_id
        ):
            raise PasskeyRefused("not-owner", "the user handle is not this person's")
        rp_id, origin = relying_party(provider.ctx.issuer)
        try:
            assertion = verify_assertion(
                client_data_json=response.client_data_json,
                authenticator_data=response.authenticator_data,
                signature=response.signature,
                public_key=row.public_key,
                challenge=b64url_decode(pending["challenge"]),
                origin=origin,
                rp_id=rp_id,
                require_user_verification=True,
            )
        except WebAuthnError as error:
            raise PasskeyRefused(error.reason, str(error)) from error
        _advance_counter(provider, row, assertion.sign_count, person_id)
    except PasskeyRefused as refused:
        _audit(
            provider,
            person_id,
            "passkey.refused",
            "passkey" if row_id else "person",
            row_id or person_id,
            reason=refused.reason,
        )
        raise
    _audit(provider, person_id, "passkey.used", "passkey", row.id, user_verified=True)
    return assertion


def _advance_counter(provider: Provider, row: PasskeyRow, received: int, actor: str) -> None:
    """§7.2 step 21, claimed atomically: of two assertions with one counter value, one
    wins. A counter that does not grow suggests a cloned authenticator (§6.1.1)."""
    stored = row.sign_count
    claimed = 0
    if counter_advances(stored, received):
        condition = (
            PasskeyRow.sign_count == 0 if received == 0 else PasskeyRow.sign_count < received
        )
        with transaction(provider.ctx.sessions) as session:
            result = session.execute(
                update(PasskeyRow)
                .where(PasskeyRow.id == row.id, PasskeyRow.revoked_at.is_(None), condition)
                .values(sign_count=received, last_used_at=provider.ctx.clock())
            )
            claimed = result.rowcount  # type: ignore[attr-defined]
    if claimed != 1:
        _audit(
            provider,
            actor,
            "passkey.clone_suspected",
            "passkey",
            row.id,
            stored_count=stored,
            received_count=received,
        )
        raise PasskeyRefused("counter", "the signature counter did not increase")
