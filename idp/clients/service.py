"""Registering, updating and disabling clients, each step in the audit trail.

Redirect URIs are validated at registration and then compared exactly (RFC 9700 §2.1):
https, or http only on loopback (RFC 8252 §7.3), or a private-use scheme for native apps
(RFC 8252 §7.1); never a fragment (RFC 6749 §3.1.2).

Per-client policy: ``require_pushed_authorization_requests`` (RFC 9126 §6), the audiences a
client may exchange tokens for (``exchange_targets``, RFC 8693 §2.1; None leaves it
unrestricted, as for clients registered before this setting existed), and for counter and
hotline clients the CIBA token delivery mode (``poll`` or ``ping``) with the client's
notification endpoint for ``ping`` (CIBA Core §4).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from joserfc.jwk import KeySet
from sqlalchemy.orm import Session, sessionmaker

from core.audit.entry import AuditEvent
from core.audit.trail import AuditTrail
from core.db.engine import transaction
from idp.clients.channels import (
    CHANNEL_GRANTS,
    CIBA,
    PUBLIC_CHANNELS,
    TOKEN_EXCHANGE,
    Channel,
)
from idp.clients.models import AUTH_METHODS, Client
from idp.clients.secrets import hash_client_secret, new_client_secret
from idp.clients.storage import SqlClientStore

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DELIVERY_MODES = ("poll", "ping")  # CIBA Core §5; push mode is not offered
_TARGET = re.compile(r"[A-Za-z0-9._:/-]{1,200}")
MAX_EXCHANGE_TARGETS = 50


class InvalidClientMetadata(ValueError):
    """Registration refused; the message says which field (RFC 7591 §3.2.2)."""


class UnknownClient(LookupError):
    pass


def check_redirect_uri(uri: str, channel: Channel) -> str:
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise InvalidClientMetadata("redirect_uri must not have a fragment")
    if parts.scheme == "https" and parts.netloc:
        return uri
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return uri
    if channel in PUBLIC_CHANNELS and "." in parts.scheme and not parts.netloc.startswith("/"):
        return uri  # reverse-domain private-use scheme of a native app
    raise InvalidClientMetadata(f"redirect_uri not allowed: {uri!r}")


def check_public_jwks(jwks: dict[str, Any] | None) -> None:
    """A JWK set of public signing keys only (RFC 7517 §5): never a private member."""
    try:
        keys = KeySet.import_key_set(jwks or {"keys": []}).keys  # type: ignore[arg-type]
    except Exception as exc:  # joserfc raises several types for malformed sets
        raise InvalidClientMetadata("jwks is not a valid JWK set") from exc
    if not keys:
        raise InvalidClientMetadata("private_key_jwt needs jwks with at least one key")
    for key in keys:
        if key.is_private or key.key_type == "oct":
            raise InvalidClientMetadata("jwks must hold public keys only")


def check_exchange_targets(
    targets: Sequence[str] | None, grants: Sequence[str]
) -> tuple[str, ...] | None:
    """The allow-list of token-exchange audiences (client ids, or the issuer)."""
    if targets is None:
        return None
    if TOKEN_EXCHANGE not in grants:
        raise InvalidClientMetadata("exchange_targets needs the token-exchange grant")
    if len(targets) > MAX_EXCHANGE_TARGETS or not all(_TARGET.fullmatch(t) for t in targets):
        raise InvalidClientMetadata("exchange_targets are client ids or the issuer")
    return tuple(dict.fromkeys(targets))


def check_backchannel(
    grants: Sequence[str], mode: str | None, endpoint: str | None
) -> tuple[str | None, str | None]:
    """CIBA delivery mode and notification endpoint (CIBA Core §4): poll by default; ping
    needs an https endpoint (http only on loopback, for development)."""
    if CIBA not in grants:
        if mode is not None or endpoint is not None:
            raise InvalidClientMetadata("backchannel_* metadata needs the CIBA grant")
        return None, None
    mode = mode or "poll"
    if mode not in DELIVERY_MODES:
        raise InvalidClientMetadata(f"backchannel_token_delivery_mode is one of {DELIVERY_MODES}")
    if mode == "ping":
        if not endpoint:
            raise InvalidClientMetadata("ping mode needs backchannel_client_notification_endpoint")
        return mode, check_redirect_uri(endpoint, Channel.WEB)
    if endpoint is not None:
        raise InvalidClientMetadata("backchannel_client_notification_endpoint is for ping mode")
    return mode, None


class ClientService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        audit: AuditTrail,
        hash_key: bytes,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.audit = audit
        self.hash_key = hash_key
        self.clock = clock
        self.store = SqlClientStore()

    def register(
        self,
        *,
        name: str,
        channel: Channel,
        redirect_uris: Sequence[str] = (),
        scope: str = "openid profile",
        grant_types: Sequence[str] | None = None,
        token_endpoint_auth_method: str | None = None,
        post_logout_redirect_uris: Sequence[str] = (),
        subject_type: str = "public",
        sector_identifier: str | None = None,
        backchannel_logout_uri: str | None = None,
        jwks: dict[str, Any] | None = None,
        client_id: str | None = None,
        actor: str = "system",
        require_pushed_authorization_requests: bool = False,
        exchange_targets: Sequence[str] | None = None,
        backchannel_token_delivery_mode: str | None = None,
        backchannel_client_notification_endpoint: str | None = None,
    ) -> tuple[Client, str | None]:
        """Register a client; returns it and its secret (shown once, stored hashed)."""
        allowed = CHANNEL_GRANTS[channel]
        grants = tuple(grant_types) if grant_types is not None else tuple(sorted(allowed))
        if not grants or not set(grants) <= allowed:
            raise InvalidClientMetadata(
                f"grant_types for channel {channel.value}: {sorted(allowed)}"
            )
        method = token_endpoint_auth_method or (
            "none" if channel in PUBLIC_CHANNELS else "client_secret_basic"
        )
        if method not in AUTH_METHODS:
            raise InvalidClientMetadata(f"token_endpoint_auth_method must be one of {AUTH_METHODS}")
        if method == "none" and channel not in PUBLIC_CHANNELS:
            raise InvalidClientMetadata("only app and mini-program clients may be public")
        if "authorization_code" in grants and not redirect_uris:
            raise InvalidClientMetadata("redirect_uris are required for the code flow")
        uris = tuple(check_redirect_uri(uri, channel) for uri in redirect_uris)
        logout_uris = tuple(check_redirect_uri(uri, channel) for uri in post_logout_redirect_uris)
        if method == "private_key_jwt":
            check_public_jwks(jwks)
        if backchannel_logout_uri is not None:
            backchannel_logout_uri = check_redirect_uri(backchannel_logout_uri, Channel.WEB)
        if subject_type not in ("public", "pairwise"):
            raise InvalidClientMetadata("subject_type is public or pairwise")
        if not name.strip() or len(name) > 200:
            raise InvalidClientMetadata("name is 1-200 characters")
        targets = check_exchange_targets(exchange_targets, grants)
        delivery_mode, notification_endpoint = check_backchannel(
            grants, backchannel_token_delivery_mode, backchannel_client_notification_endpoint
        )
        secret = None if method in ("none", "private_key_jwt") else new_client_secret()
        client = Client(
            client_id=client_id or f"{channel.value}-{secrets.token_hex(8)}",
            name=name.strip(),
            channel=channel,
            token_endpoint_auth_method=method,
            redirect_uris=uris,
            grant_types=grants,
            scope=scope,
            secret_hash=hash_client_secret(self.hash_key, secret) if secret else None,
            post_logout_redirect_uris=logout_uris,
            subject_type=subject_type,
            sector_identifier=sector_identifier,
            backchannel_logout_uri=backchannel_logout_uri,
            jwks=jwks if method == "private_key_jwt" else None,
            require_pushed_authorization_requests=require_pushed_authorization_requests,
            exchange_targets=targets,
            backchannel_token_delivery_mode=delivery_mode,
            backchannel_client_notification_endpoint=notification_endpoint,
        )
        with transaction(self.sessions) as session:
            self.store.add(session, client, self.clock())
            self.audit.record(
                session,
                AuditEvent(
                    actor=actor,
                    action="client.registered",
                    object_type="client",
                    object_id=client.client_id,
                    details={"channel": channel.value, "grant_types": list(grants)},
                ),
            )
        return client, secret

    def rotate_secret(self, client_id: str, actor: str = "system") -> str:
        secret = new_client_secret()
        with transaction(self.sessions) as session:
            row = self.store.row(session, client_id)
            if row is None or row.secret_hash is None:
                raise UnknownClient(client_id)
            row.secret_hash = hash_client_secret(self.hash_key, secret)
            row.updated_at = self.clock()
            self.audit.record(
                session,
                AuditEvent(
                    actor=actor,
                    action="client.secret_rotated",
                    object_type="client",
                    object_id=client_id,
                ),
            )
        return secret

    def set_policy(
        self,
        client_id: str,
        *,
        require_pushed_authorization_requests: bool | None = None,
        exchange_targets: Sequence[str] | None = None,
        clear_exchange_targets: bool = False,
        actor: str = "system",
    ) -> Client:
        """Change the PAR requirement and the token-exchange allow-list of a client."""
        with transaction(self.sessions) as session:
            row = self.store.row(session, client_id)
            if row is None:
                raise UnknownClient(client_id)
            details: dict[str, Any] = {}
            if require_pushed_authorization_requests is not None:
                row.require_pushed_authorization_requests = require_pushed_authorization_requests
                details["require_pushed_authorization_requests"] = (
                    require_pushed_authorization_requests
                )
            if clear_exchange_targets:
                row.exchange_targets = None
                details["exchange_targets"] = None
            elif exchange_targets is not None:
                targets = check_exchange_targets(exchange_targets, row.to_client().grant_types)
                row.exchange_targets = json.dumps(list(targets or ()))
                details["exchange_targets"] = list(targets or ())
            row.updated_at = self.clock()
            self.audit.record(
                session,
                AuditEvent(
                    actor=actor,
                    action="client.policy_changed",
                    object_type="client",
                    object_id=client_id,
                    details=details,
                ),
            )
            return row.to_client()

    def set_status(self, client_id: str, status: str, actor: str = "system") -> Client:
        if status not in ("active", "disabled"):
            raise InvalidClientMetadata("status is active or disabled")
        with transaction(self.sessions) as session:
            row = self.store.row(session, client_id)
            if row is None:
                raise UnknownClient(client_id)
            row.status = status
            row.updated_at = self.clock()
            self.audit.record(
                session,
                AuditEvent(
                    actor=actor,
                    action=f"client.{status}",
                    object_type="client",
                    object_id=client_id,
                ),
            )
            return replace(row.to_client())
