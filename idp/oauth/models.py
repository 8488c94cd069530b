"""Objects handed to Authlib's grants (its model protocols), built from our rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from authlib.oauth2.rfc6749 import ClientMixin

from idp.clients.channels import CHANNEL_GRANTS
from idp.clients.models import Client
from idp.clients.secrets import check_client_secret
from idp.oauth.storage import CodeRow, GrantRow, RefreshTokenRow


class OAuthClient(ClientMixin):  # type: ignore[misc]
    """Authlib's client protocol over :class:`Client`: exact redirect URIs, channel grants."""

    def __init__(self, client: Client, hash_key: bytes) -> None:
        self.client = client
        self._hash_key = hash_key

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> str | None:
        # RFC 9700 §2.1: the client must always send its redirect_uri; no default.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = self.client.allowed_scopes()
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string comparison (RFC 9700 §4.1.3)."""
        return redirect_uri in self.client.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return check_client_secret(self._hash_key, self.client.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.client.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.client.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return (
            grant_type in self.client.grant_types
            and grant_type in CHANNEL_GRANTS[self.client.channel]
        )


@dataclass(frozen=True)
class CodeRecord:
    """Authlib's AuthorizationCodeMixin and OpenID Connect's extras."""

    code_hash: str
    grant_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    code_challenge_method: str
    auth_time: datetime | None
    acr: str | None
    amr: tuple[str, ...]

    @classmethod
    def from_rows(cls, row: CodeRow, grant: GrantRow) -> CodeRecord:
        return cls(
            code_hash=row.code_hash,
            grant_id=row.grant_id,
            redirect_uri=row.redirect_uri,
            scope=row.scope,
            nonce=row.nonce,
            code_challenge=row.code_challenge,
            code_challenge_method=row.code_challenge_method,
            auth_time=grant.auth_time,
            acr=grant.acr,
            amr=tuple(grant.amr.split()) if grant.amr else (),
        )

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int | None:
        return None if self.auth_time is None else int(self.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list[str]:
        return list(self.amr)


@dataclass(frozen=True)
class RefreshRecord:
    """Authlib's token protocol for the refresh grant."""

    token_hash: str
    grant_id: str
    client_id: str
    scope: str
    expires_at: datetime

    @classmethod
    def from_row(cls, row: RefreshTokenRow) -> RefreshRecord:
        return cls(row.token_hash, row.grant_id, row.client_id, row.scope, row.expires_at)

    def check_client(self, client: OAuthClient) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def is_revoked(self) -> bool:
        return False  # revoked and rotated tokens are never handed to Authlib

    def is_expired(self) -> bool:
        return False  # checked before
