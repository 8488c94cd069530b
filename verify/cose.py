"""COSE_Sign1 (RFC 9052 §4.2, §4.4) for licence QR payloads.

Only what a licence QR needs: one signer, the algorithm and key id in the protected header,
no external data. Algorithms (:mod:`verify.signing`): ES256 (-7, signature ``r || s``, 64
bytes, RFC 9053 §2.1), EdDSA (-8, Ed25519, RFC 9053 §2.2) and SM2 with SM3 (-65600, private
use, signature ``r || s``, 64 bytes). The verifier takes the algorithm from the key it
trusts, never from the message, and refuses a message whose protected ``alg`` disagrees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from keys.algorithms import KeyType, UnsupportedKeyType, key_type_of
from verify.signing import (
    COSE_ALGORITHMS,
    JWS_ALGORITHMS,
    LicenceSigner,
    cose_algorithm_of,
    sign_raw,
    verify_raw,
)

__all__ = [
    "COSE_ALGORITHMS",
    "CoseError",
    "CoseSignatureError",
    "Sign1",
    "cose_algorithm",
    "decode_sign1",
    "sign1",
    "verify_sign1",
]

COSE_SIGN1_TAG = 18
CWT_TAG = 61
HEADER_ALG = 1
HEADER_KID = 4


class CoseError(ValueError):
    """Not a well-formed COSE_Sign1 message (RFC 9052 §4.2)."""


class CoseSignatureError(ValueError):
    """The COSE_Sign1 signature does not verify under the key named by its ``kid``."""


@dataclass(frozen=True)
class Sign1:
    """A decoded, not yet verified COSE_Sign1."""

    protected: bytes
    algorithm: int | None
    kid: bytes | None
    payload: bytes
    signature: bytes

    def signed_bytes(self) -> bytes:
        """Sig_structure (RFC 9052 §4.4): ["Signature1", protected, external_aad, payload]."""
        return cbor2.dumps(["Signature1", self.protected, b"", self.payload])


def cose_algorithm(key_type: KeyType) -> int:
    try:
        return cose_algorithm_of(key_type)
    except UnsupportedKeyType as exc:
        raise CoseError(str(exc)) from None


def sign1(payload: bytes, kid: bytes, signer: LicenceSigner) -> bytes:
    """A tagged COSE_Sign1 over ``payload`` (the protected header holds ``alg`` and ``kid``,
    as the EU DCC does, so that a verifier finds the key without trusting anything
    unprotected)."""
    protected = cbor2.dumps({HEADER_ALG: cose_algorithm(signer.key_type), HEADER_KID: kid})
    to_sign = Sign1(protected, None, kid, payload, b"").signed_bytes()
    signature = sign_raw(signer, to_sign)
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


def _header(value: Any) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise CoseError("a COSE header is a map")
    return value


def decode_sign1(message: bytes) -> Sign1:
    """Parse a COSE_Sign1, tagged (18, optionally inside the CWT tag 61) or not."""
    try:
        item = cbor2.loads(message)
    except Exception as exc:  # cbor2 raises several error types on bad input
        raise CoseError("not CBOR") from exc
    if isinstance(item, cbor2.CBORTag) and item.tag == CWT_TAG:
        item = item.value
    if isinstance(item, cbor2.CBORTag):
        if item.tag != COSE_SIGN1_TAG:
            raise CoseError(f"CBOR tag {item.tag} is not COSE_Sign1")
        item = item.value
    if not isinstance(item, list | tuple) or len(item) != 4:
        raise CoseError("a COSE_Sign1 is an array of four items")
    protected, unprotected, payload, signature = item
    if not all(isinstance(part, bytes) for part in (protected, payload, signature)):
        raise CoseError("protected header, payload and signature are byte strings")
    _header(unprotected)
    try:
        header = _header(cbor2.loads(protected)) if protected else {}
    except CoseError:
        raise
    except Exception as exc:
        raise CoseError("the protected header is not CBOR") from exc
    algorithm = header.get(HEADER_ALG)
    kid = header.get(HEADER_KID)
    if algorithm is not None and not isinstance(algorithm, int):
        raise CoseError("alg is an integer")
    if kid is not None and not isinstance(kid, bytes):
        raise CoseError("kid is a byte string")
    return Sign1(protected, algorithm, kid, payload, signature)


def verify_sign1(message: Sign1, key: PublicKeyTypes) -> None:
    """Raise :class:`CoseSignatureError` unless ``key`` signed ``message`` with its own
    algorithm."""
    try:
        key_type = key_type_of(key)
    except UnsupportedKeyType:
        raise CoseSignatureError("the key does not verify licence payloads") from None
    if message.algorithm != COSE_ALGORITHMS.get(key_type):
        raise CoseSignatureError("the message's algorithm is not the key's")
    if key_type in (KeyType.EC_P256, KeyType.SM2) and len(message.signature) != 64:
        raise CoseSignatureError(f"an {JWS_ALGORITHMS[key_type]} signature is 64 bytes (r || s)")
    try:
        verify_raw(key, message.signature, message.signed_bytes())
    except InvalidSignature:
        raise CoseSignatureError("the signature does not verify") from None
