"""Compact JWS now lives in :mod:`keys.jws` (licences and status lists sign with it too)."""

from keys.jws import InvalidJws, JwsSigner, b64url, b64url_decode, sign, unverified_header, verify

__all__ = [
    "InvalidJws",
    "JwsSigner",
    "b64url",
    "b64url_decode",
    "sign",
    "unverified_header",
    "verify",
]
