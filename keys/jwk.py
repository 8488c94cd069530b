"""Public keys as JWKs (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2) and JWK sets."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keys.algorithms import UnsupportedKeyType, key_type_of


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def public_jwk(public_key: PublicKeyTypes, kid: str) -> dict[str, Any]:
    """The public JWK with ``kid``, ``alg`` and ``use: sig``; never a private member."""
    alg = key_type_of(public_key).jose_alg
    members: dict[str, Any]
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        members = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
    elif isinstance(public_key, rsa.RSAPublicKey):
        numbers_rsa = public_key.public_numbers()
        members = {
            "kty": "RSA",
            "n": b64url(_int_bytes(numbers_rsa.n)),
            "e": b64url(_int_bytes(numbers_rsa.e)),
        }
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        members = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    else:  # pragma: no cover - key_type_of already refused it
        raise UnsupportedKeyType(type(public_key).__name__)
    return {**members, "kid": kid, "alg": alg, "use": "sig"}
