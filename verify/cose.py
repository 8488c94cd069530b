"""COSE_Sign1 (RFC 9052 §4.2, §4.4) for licence QR payloads.

Only what a licence QR needs: one signer, the algorithm and key id in the protected header,
no external data. Algorithms (RFC 9053 §2.1, §2.2): ES256 (-7, signature ``r || s``, 64
bytes) and EdDSA (-8, Ed25519). The verifier takes the algorithm from the key it trusts,
never from the message, and refuses a message whose protected ``alg`` disagrees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from keys.algorithms import KeyType, key_type_of, raw_to_der_ecdsa, verify_signature

COSE_SIGN1_TAG = 18
CWT_TAG = 61
HEADER_ALG = 1
HEADER_KID = 4
COSE_ALGORITHMS: dict[KeyType, int] = {KeyType.EC_P256: -7, KeyType.ED25519: -8}


class CoseError(ValueError):
    """Not a well-formed COSE_Sign1 message (RFC 9052 §4.2)."""


class CoseSignatureError(ValueError):
    """The COSE_Sign1 signature does not verify under the key named by its ``kid``."""


class CoseSigner(Protocol):
    @property
    def key_type(self) -> KeyType: ...

    def sign_jws(self, data: bytes) -> bytes: ...


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
        return COSE_ALGORITHMS[key_type]
    except KeyError:
        raise CoseError(f"{key_type.value} keys do not sign licence payloads") from None


def sign1(payload: bytes, kid: bytes, signer: CoseSigner) -> bytes:
    """A tagged COSE_Sign1 over ``payload`` (the protected header holds ``alg`` and ``kid``,
    as the EU DCC does, so that a verifier finds the key without trusting anything
    unprotected)."""
    protected = cbor2.dumps({HEADER_ALG: cose_algorithm(signer.key_type), HEADER_KID: kid})
    to_sign = Sign1(protected, None, kid, payload, b"").signed_bytes()
    signature = signer.sign_jws(to_sign)
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
    key_type = key_type_of(key)
    if message.algorithm != COSE_ALGORITHMS.get(key_type):
        raise CoseSignatureError("the message's algorithm is not the key's")
    signature = message.signature
    if key_type is KeyType.EC_P256:
        if len(signature) != 64:
            raise CoseSignatureError("an ES256 signature is 64 bytes")
        signature = raw_to_der_ecdsa(signature)
    try:
        verify_signature(key, signature, message.signed_bytes())
    except InvalidSignature:
        raise CoseSignatureError("the signature does not verify") from None
