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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105

    @property
    def active(self) -> bool:
        return self.status == "active"

    def allowed_scopes(self) -> set[str]:
        return set(self.scope.split())
