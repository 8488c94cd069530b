"""JWT-secured authorization requests: request objects by value (RFC 9101).

A client sends its authorization request as a JWT in the ``request`` parameter, at the
authorization endpoint or inside a pushed authorization request (RFC 9126 §3). It is checked
in order; the first failure answers ``invalid_request_object`` (RFC 9101 §6.2 / OpenID
Connect Core §3.1.2.6):

1. compact JWS of three parts (a JWE or anything else is refused), ``alg`` an asymmetric
   algorithm, never ``none`` (§6.1; RFC 8725 §3.1), ``typ`` absent, ``JWT`` or
   ``oauth-authz-req+jwt`` (§10.8);
2. signed by a key the client registered (``jwks``: private_key_jwt clients); a client
   without keys cannot send request objects (§6.1);
3. ``iss`` is the client id and ``aud`` this issuer (§6.1, §10.2); ``client_id``, when the
   object has it, is the same client (§5);
4. ``exp`` present and in the future, at most an hour ahead; ``nbf``, if any, passed
   (§10.2: replay of old objects); a ``jti`` is accepted once (shared cache);
5. no ``request`` or ``request_uri`` inside (§4).

The parameters are then those of the object only (§6.3: parameters outside it are ignored,
apart from ``client_id``, which must match). Pure: no HTTP, no storage other than the cache
for ``jti``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from core.cache.base import Cache

ALGORITHMS = ("ES256", "RS256", "PS256", "EdDSA")
TYPES = (None, "JWT", "oauth-authz-req+jwt")
MAX_LENGTH = 16384
MAX_LIFETIME_SECONDS = 3600
LEEWAY_SECONDS = 30
# Claims about the JWT itself, not authorization request parameters.
JWT_CLAIMS = frozenset({"iss", "aud", "exp", "iat", "nbf", "jti", "sub"})


class InvalidRequestObject(ValueError):
    """``invalid_request_object``: the message says why (safe to show)."""

    error = "invalid_request_object"


def _header(token: str) -> dict[str, Any]:
    try:
        segment = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestObject("malformed request object") from exc
    if not isinstance(header, dict):
        raise InvalidRequestObject("malformed request object")
    return header


def _keys(jwks: dict[str, Any] | None) -> KeySet:
    if not jwks:
        raise InvalidRequestObject("the client has registered no keys for request objects")
    try:
        return KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError) as exc:  # pragma: no cover - checked at registration
        raise InvalidRequestObject("the client's keys are unusable") from exc


def _parameter(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidRequestObject(f"{name} must be a string")
    return str(value)


def verify_request_object(
    token: str,
    *,
    client_id: str,
    jwks: dict[str, Any] | None,
    issuer: str,
    now: Callable[[], datetime],
    cache: Cache,
) -> dict[str, str]:
    """The authorization request parameters of a request object sent by ``client_id``."""
    if not token or len(token) > MAX_LENGTH or token.count(".") != 2:
        raise InvalidRequestObject("a request object is a signed JWT (JWS compact)")
    header = _header(token)
    if header.get("alg") not in ALGORITHMS:
        raise InvalidRequestObject("the request object must be signed (ES256, RS256, PS256, EdDSA)")
    if header.get("typ") not in TYPES:
        raise InvalidRequestObject("typ must be oauth-authz-req+jwt")
    try:
        verified = jws.deserialize_compact(token, _keys(jwks), algorithms=[str(header["alg"])])
        claims = json.loads(verified.payload)
    except (JoseError, ValueError) as exc:
        raise InvalidRequestObject("the signature does not verify with the client's keys") from exc
    if not isinstance(claims, dict):
        raise InvalidRequestObject("the request object's claims must be an object")
    if claims.get("iss") != client_id:
        raise InvalidRequestObject("iss must be the client id")
    if "client_id" in claims and claims["client_id"] != client_id:
        raise InvalidRequestObject("client_id does not match the request")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if issuer not in audiences:
        raise InvalidRequestObject("aud must be the issuer")
    moment = now().timestamp()
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise InvalidRequestObject("exp is required")
    if exp <= moment - LEEWAY_SECONDS:
        raise InvalidRequestObject("the request object has expired")
    if exp > moment + MAX_LIFETIME_SECONDS:
        raise InvalidRequestObject("the request object lives too long (at most an hour)")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf > moment + LEEWAY_SECONDS:
        raise InvalidRequestObject("the request object is not valid yet")
    if "request" in claims or "request_uri" in claims:
        raise InvalidRequestObject("a request object cannot hold request or request_uri")
    jti = claims.get("jti")
    if jti is not None:
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise InvalidRequestObject("jti must be a string")
        ttl = max(int(exp - moment) + LEEWAY_SECONDS, 1)
        if not cache.add(f"request-object:{client_id}:{jti}", b"1", ttl=ttl):
            raise InvalidRequestObject("the request object was already used")
    params = {
        name: _parameter(name, value) for name, value in claims.items() if name not in JWT_CLAIMS
    }
    params["client_id"] = client_id
    return params


def merge_outer(outer: dict[str, str], inner: dict[str, str]) -> dict[str, str]:
    """RFC 9101 §6.3 with OpenID Connect Core §6.1: only the object's parameters are used;
    ``client_id`` and ``response_type`` sent outside must equal the object's."""
    for name in ("client_id", "response_type"):
        if name in outer and name in inner and outer[name] != inner[name]:
            raise InvalidRequestObject(f"{name} differs between the request and its object")
    return dict(inner)
