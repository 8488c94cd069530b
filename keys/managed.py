"""What the key registry hands out: a key's public record, and the one signing interface
(sign bytes, certificate chain, public JWK) over a key that stays in its backend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from keys.algorithms import KeyType, der_to_raw_ecdsa
from keys.backends.base import RawSigner
from keys.jwk import public_jwk
from keys.sm2 import load_sm2_public_key
from keys.storage import KeyRow


def _load_public_key(key_type: KeyType, pem: str) -> PublicKeyTypes:
    if key_type is KeyType.SM2:  # ``cryptography`` does not load SM2 keys
        return load_sm2_public_key(pem.encode())
    return load_pem_public_key(pem.encode())


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    purpose: str
    key_type: KeyType
    backend: str
    state: str
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None
    publish_until: datetime | None
    issuer_kid: str | None
    certificate: x509.Certificate | None
    public_key: PublicKeyTypes

    @classmethod
    def from_row(cls, row: KeyRow) -> KeyInfo:
        return cls(
            kid=row.kid,
            purpose=row.purpose,
            key_type=KeyType(row.key_type),
            backend=row.backend,
            state=row.state,
            created_at=row.created_at,
            activated_at=row.activated_at,
            retired_at=row.retired_at,
            publish_until=row.publish_until,
            issuer_kid=row.issuer_kid,
            certificate=(
                x509.load_pem_x509_certificate(row.certificate.encode())
                if row.certificate
                else None
            ),
            public_key=_load_public_key(KeyType(row.key_type), row.public_key),
        )

    def public_jwk(self) -> dict[str, Any]:
        return public_jwk(self.public_key, self.kid)


class ManagedSigner:
    """The one signing interface: sign bytes, certificate chain, public JWK."""

    def __init__(self, info: KeyInfo, raw: RawSigner, chain: list[x509.Certificate]) -> None:
        self.info = info
        self._raw = raw
        self._chain = chain

    @property
    def kid(self) -> str:
        return self.info.kid

    @property
    def key_type(self) -> KeyType:
        return self.info.key_type

    def public_key(self) -> PublicKeyTypes:
        return self.info.public_key

    def sign(self, data: bytes) -> bytes:
        """X.509/CMS form: DER ECDSA, PKCS#1 v1.5 RSA, or Ed25519."""
        return self._raw.sign(data)

    def sign_jws(self, data: bytes) -> bytes:
        """JWS form (RFC 7518 §3.4: ECDSA as fixed-length r || s)."""
        signature = self._raw.sign(data)
        return der_to_raw_ecdsa(signature) if self.key_type is KeyType.EC_P256 else signature

    def certificate_chain(self) -> list[x509.Certificate]:
        """This key's certificate first, then its issuers up to the root (empty if none)."""
        return list(self._chain)

    def public_jwk(self) -> dict[str, Any]:
        return self.info.public_jwk()
