"""Client credentials (RFC 6749 §4.4), for back-end services of the ``service`` channel."""

from __future__ import annotations

from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant


class ServiceClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
