"""Client credentials (RFC 6749 §4.4), for back-end services of the ``service`` channel.

A client gets only scopes it was registered for (RFC 6749 §3.3): asking for another is
``invalid_scope``; asking for none gives the registered scope.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant

from idp.clients.models import Client


def scope_to_issue(client: Client, requested: str | None) -> str | None:
    """The requested scope if the client is registered for all of it, its registered scope
    if it asks for none, None if it asks for more (``invalid_scope``). The hot path
    (``idp.hotpath.client_credentials``) decides by this too."""
    if not set((requested or "").split()) <= client.allowed_scopes():
        return None
    return requested or client.scope


class ServiceClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_requested_scope(self) -> None:
        if scope_to_issue(self.request.client.client, self.request.payload.scope) is None:
            raise InvalidScopeError("the client is not registered for this scope")

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        scope = scope_to_issue(self.request.client.client, self.request.payload.scope)
        token: dict[str, Any] = self.generate_token(scope=scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
