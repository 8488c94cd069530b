"""Key types and the signature scheme each one uses.

| key type  | X.509 / CMS signature                         | JOSE ``alg`` (RFC 7518, RFC 8037) |
| --------- | --------------------------------------------- | --------------------------------- |
| EC_P256   | ecdsa-with-SHA256 (RFC 5758 §3.2), DER (r, s)  | ES256, raw r || s (RFC 7518 §3.4) |
| RSA_2048  | sha256WithRSAEncryption (RFC 4055)            | RS256                             |
| RSA_3072  | sha256WithRSAEncryption                       | RS256                             |
| ED25519   | Ed25519 (RFC 8410 §6)                         | EdDSA                             |
| SM2       | SM2-with-SM3 (GB/T 32918.2, GM/T 0009), DER   | none: never in a JWKS             |

ECDSA P-256 is the default: small signatures (QR codes), fast, and supported by every
consumer this service has. SM2 (national algorithms, 国密) lives in :mod:`keys.sm2`: its keys
are software-backend only, its certificates are built by :mod:`keys.sm2_certificates`, and
``generate_private_key`` / ``sign_with_private_key`` (``cryptography`` key objects) do not
handle it.
"""

from __future__ import annotations

from enum import StrEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from keys.sm2 import Sm2PublicKey, SM2WithSM3


class KeyType(StrEnum):
    EC_P256 = "EC_P256"
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    ED25519 = "ED25519"
    SM2 = "SM2"

    @property
    def jose_alg(self) -> str:
        if self.value == "SM2":
            raise UnsupportedKeyType("SM2 has no JOSE algorithm: SM2 keys never sign JWS")
        return {"EC_P256": "ES256", "ED25519": "EdDSA"}.get(self.value, "RS256")


DEFAULT_KEY_TYPE = KeyType.EC_P256


class UnsupportedKeyType(ValueError):
    pass


def parse_key_type(text: str) -> KeyType:
    try:
        return KeyType(text.upper())
    except ValueError as exc:
        names = ", ".join(kind.value for kind in KeyType)
        raise UnsupportedKeyType(f"unknown key type {text!r}; use one of {names}") from exc


def generate_private_key(key_type: KeyType) -> PrivateKeyTypes:
    if key_type is KeyType.SM2:
        raise UnsupportedKeyType("SM2 keys are made by keys.sm2.Sm2PrivateKey.generate")
    if key_type is KeyType.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if key_type is KeyType.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    size = 2048 if key_type is KeyType.RSA_2048 else 3072
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def key_type_of(public_key: PublicKeyTypes) -> KeyType:
    if isinstance(public_key, Sm2PublicKey):
        return KeyType.SM2
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1":
        return KeyType.EC_P256
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return KeyType.ED25519
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size in (2048, 3072):
        return KeyType.RSA_2048 if public_key.key_size == 2048 else KeyType.RSA_3072
    raise UnsupportedKeyType(f"unsupported public key {type(public_key).__name__}")


# ECDSA with SHA-256 holds no state: one instance serves every signature and verification
ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def sign_with_private_key(private_key: PrivateKeyTypes, data: bytes) -> bytes:
    """The X.509/CMS form of a signature over ``data`` (SHA-256 where the scheme hashes)."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return private_key.sign(data, ECDSA_SHA256)
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(data)
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    raise UnsupportedKeyType(f"cannot sign with {type(private_key).__name__}")


def verify_signature(public_key: PublicKeyTypes, signature: bytes, data: bytes) -> None:
    """Raise ``cryptography.exceptions.InvalidSignature`` unless ``signature`` is valid."""
    if isinstance(public_key, Sm2PublicKey):
        public_key.verify(signature, data, SM2WithSM3())
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ECDSA_SHA256)
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(signature, data)
    elif isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        raise UnsupportedKeyType(f"cannot verify with {type(public_key).__name__}")


def der_to_raw_ecdsa(signature: bytes, size: int = 32) -> bytes:
    """DER ECDSA-Sig-Value -> fixed-length r || s (RFC 7518 §3.4)."""
    r, s = decode_dss_signature(signature)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def raw_to_der_ecdsa(signature: bytes) -> bytes:
    """Fixed-length r || s (as PKCS#11 CKM_ECDSA returns it) -> DER ECDSA-Sig-Value."""
    half = len(signature) // 2
    return encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )
