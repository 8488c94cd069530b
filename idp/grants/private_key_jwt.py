"""``private_key_jwt`` client authentication (RFC 7523 §2.2, §3; OpenID Connect Core §9).

The client signs an assertion with a key whose public half it registered (``jwks``). The
audience must be this issuer or its token endpoint; each ``jti`` is accepted once, tracked in
the shared cache (Redis in production) until the assertion expires.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet

from core.cache.base import Cache

MAX_ASSERTION_LIFETIME = 300


class PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, issuer: str, cache: Cache) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.issuer = issuer
        self.cache = cache

    def get_audiences(self) -> list[str]:
        return [self.issuer, f"{self.issuer}/token"]

    def validate_jti(self, claims: Any, jti: str) -> bool:
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            return False
        key = f"client-assertion:{claims['iss']}:{jti}"
        return self.cache.add(key, b"1", ttl=MAX_ASSERTION_LIFETIME + self.leeway)

    def resolve_client_public_key(self, client: Any) -> KeySet:
        jwks = client.client.jwks
        if not jwks:  # a client of another method named in an assertion: invalid_client
            raise InvalidClientError(description="the client registered no keys")
        return KeySet.import_key_set(jwks)
