"""Client credentials (RFC 6749 §4.4), for back-end services of the ``service`` channel.

A client gets only scopes it was registered for (RFC 6749 §3.3): asking for another is
``invalid_scope``; asking for none gives the registered scope.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant


class ServiceClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_requested_scope(self) -> None:
        requested = set((self.request.payload.scope or "").split())
        if not requested <= self.request.client.client.allowed_scopes():
            raise InvalidScopeError("the client is not registered for this scope")

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        scope = self.request.payload.scope or self.request.client.client.scope
        token: dict[str, Any] = self.generate_token(scope=scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
