"""What the provider's protocol code needs from the rest of the service, in one place."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from core.audit.trail import AuditTrail
from keys.registry import KeyRegistry


@dataclass(frozen=True)
class Lifetimes:
    """Short-lived access tokens and codes (RFC 9700 §2.2.1; FAPI 2.0: codes 60 s)."""

    authorization_code: timedelta = timedelta(seconds=60)
    access_token: timedelta = timedelta(minutes=10)
    id_token: timedelta = timedelta(minutes=10)
    refresh_token: timedelta = timedelta(days=14)
    login_session: timedelta = timedelta(hours=8)


@dataclass
class IdpContext:
    issuer: str
    sessions: sessionmaker[Session]
    keys: KeyRegistry
    audit: AuditTrail
    hash_key: bytes
    clock: Callable[[], datetime]
    lifetimes: Lifetimes = Lifetimes()
    # whether a client's token for itself gets a row (settings.client_credentials_token_rows;
    # false: idp.oauth.rowless_tokens)
    client_credentials_token_rows: bool = True

    def digest(self, purpose: str, value: str) -> str:
        """Keyed hash of a code, token or session id: the only form that is stored."""
        return hmac.new(self.hash_key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


# The unit of work of the request being answered (set by the router around Authlib calls).
current_session: ContextVar[Session] = ContextVar("govtrust_idp_session")


# The RFC 7638 thumbprint of the DPoP key of the token request being answered, if any.
current_dpop_jkt: ContextVar[str | None] = ContextVar("govtrust_idp_dpop_jkt", default=None)


def db() -> Session:
    try:
        return current_session.get()
    except LookupError as exc:  # pragma: no cover - a programming error
        raise RuntimeError("no unit of work around this OAuth call") from exc
