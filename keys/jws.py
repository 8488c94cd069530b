"""Compact JWS (RFC 7515 §7.1) signed by a key that stays in its backend, and verified
strictly: the algorithm comes from our key, never from the token header (RFC 8725 §3.1), so
``alg: none`` and HS256-with-the-public-key tokens are refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from keys.algorithms import KeyType, key_type_of, raw_to_der_ecdsa, verify_signature


class JwsSigner(Protocol):
    @property
    def kid(self) -> str: ...

    @property
    def key_type(self) -> KeyType: ...

    def sign_jws(self, data: bytes) -> bytes: ...


class InvalidJws(ValueError):
    """The token is malformed, signed by an unknown key, or its signature does not verify."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidJws("not base64url") from exc


def _json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


@lru_cache(maxsize=64)
def _plain_header(alg: str, kid: str, typ: str) -> str:
    """The encoded protected header of the tokens a key signs (the same for each one)."""
    return b64url(_json({"alg": alg, "kid": kid, "typ": typ}))


def sign(
    claims: Mapping[str, Any],
    signer: JwsSigner,
    typ: str = "JWT",
    extra_header: Mapping[str, Any] | None = None,
) -> str:
    alg, kid = signer.key_type.jose_alg, signer.kid
    if extra_header:
        header = b64url(_json({"alg": alg, "kid": kid, "typ": typ, **extra_header}))
    else:
        header = _plain_header(alg, kid, typ)
    signing_input = f"{header}.{b64url(_json(claims))}"
    return f"{signing_input}.{b64url(signer.sign_jws(signing_input.encode()))}"


def unverified_header(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidJws("a JWS has three parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except ValueError as exc:
        raise InvalidJws("header is not JSON") from exc
    if not isinstance(header, dict):
        raise InvalidJws("header is not an object")
    return header


def verify(
    token: str, keys: Mapping[str, PublicKeyTypes], typ: str | None = None
) -> dict[str, Any]:
    """The claims of ``token`` if it is signed by one of ``keys`` (by ``kid``)."""
    header = unverified_header(token)
    key = keys.get(str(header.get("kid")))
    if key is None:
        raise InvalidJws("unknown signing key")
    expected_alg = key_type_of(key).jose_alg
    if header.get("alg") != expected_alg:
        raise InvalidJws("unexpected algorithm")
    if typ is not None and str(header.get("typ", "")).lower() not in (
        typ.lower(),
        f"application/{typ}".lower(),
    ):
        raise InvalidJws("unexpected token type")
    if "crit" in header:
        raise InvalidJws("unsupported critical header")
    head, payload, signature = token.split(".")
    raw = b64url_decode(signature)
    if key_type_of(key) is KeyType.EC_P256:
        if len(raw) != 64:
            raise InvalidJws("malformed signature")
        raw = raw_to_der_ecdsa(raw)
    try:
        verify_signature(key, raw, f"{head}.{payload}".encode())
    except InvalidSignature as exc:
        raise InvalidJws("signature does not verify") from exc
    try:
        claims = json.loads(b64url_decode(payload))
    except ValueError as exc:
        raise InvalidJws("payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise InvalidJws("payload is not an object")
    return claims
