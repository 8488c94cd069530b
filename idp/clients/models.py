"""OAuth clients (RFC 6749 §2; OpenID Connect Dynamic Registration §2 metadata names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from idp.clients.channels import Channel

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    channel: Channel
    token_endpoint_auth_method: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scope: str
    status: str = "active"
    secret_hash: str | None = None
    post_logout_redirect_uris: tuple[str, ...] = ()
    subject_type: str = "public"
    sector_identifier: str | None = None
    jwks: dict[str, Any] | None = None
    backchannel_logout_uri: str | None = None
    # RFC 9126 §6: this client must push its authorization requests (PAR).
    require_pushed_authorization_requests: bool = False
    # RFC 8693 §2.1: the audiences this client may exchange tokens for (client ids, or the
    # issuer); None: any active client of this provider (clients registered before 0011).
    exchange_targets: tuple[str, ...] | None = None
    # CIBA Core §4: "poll" or "ping", and the endpoint pinged in ping mode.
    backchannel_token_delivery_mode: str | None = None
    backchannel_client_notification_endpoint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105

    @property
    def active(self) -> bool:
        return self.status == "active"

    def allowed_scopes(self) -> set[str]:
        return set(self.scope.split())
