"""A pyHanko :class:`Signer` over govtrust's signing interface: the key never leaves its
backend (software or HSM); pyHanko only sees signatures.

The adapter signs the DER of the CMS signed attributes (RFC 5652 §5.4), which is what
ETSI EN 319 142-1 §6.2.1 (PAdES baseline, ``ETSI.CAdES.detached``) puts in ``/Contents``.
Mechanisms (RFC 5754, RFC 5758, RFC 8419):

| key type          | signatureAlgorithm      | digestAlgorithm |
| ----------------- | ----------------------- | --------------- |
| EC_P256           | ecdsa-with-SHA256       | SHA-256         |
| RSA_2048/RSA_3072 | sha256WithRSAEncryption | SHA-256         |
| ED25519           | Ed25519 (pure)          | SHA-512         |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from asn1crypto import x509 as asn1_x509
from asn1crypto.algos import SignedDigestAlgorithm
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from keys.algorithms import KeyType

#: CMS signatureAlgorithm (asn1crypto names) and the digest each key type signs under.
MECHANISMS: dict[KeyType, tuple[str, str]] = {
    KeyType.EC_P256: ("sha256_ecdsa", "sha256"),  # RFC 5758 §3.2
    KeyType.RSA_2048: ("sha256_rsa", "sha256"),  # RFC 4055 §5
    KeyType.RSA_3072: ("sha256_rsa", "sha256"),
    KeyType.ED25519: ("ed25519", "sha512"),  # RFC 8419 §3.1
}

#: Largest signature of each key type, for dry runs (DER ECDSA P-256 is at most 72 bytes).
SIGNATURE_SIZES: dict[KeyType, int] = {
    KeyType.EC_P256: 72,
    KeyType.RSA_2048: 256,
    KeyType.RSA_3072: 384,
    KeyType.ED25519: 64,
}


class SigningKey(Protocol):
    """What the engine needs of a key: govtrust's ``ManagedSigner`` has all three."""

    @property
    def key_type(self) -> KeyType: ...

    def sign(self, data: bytes) -> bytes:
        """X.509/CMS form: DER ECDSA-SHA256, PKCS#1 v1.5 SHA-256, or Ed25519."""
        ...

    def certificate_chain(self) -> list[x509.Certificate]:
        """The signing certificate first, then its issuers up to the root."""
        ...


def to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


def digest_for(key_type: KeyType) -> str:
    """The message digest (asn1crypto name) a signature with ``key_type`` uses."""
    return MECHANISMS[key_type][1]


class RegistrySigner(Signer):
    """pyHanko signer delegating the raw signature to ``key.sign``.

    Holds the certificates and the key handle only: no private key, no session secret.
    """

    def __init__(self, key: SigningKey, *, embed_roots: bool = True) -> None:
        try:
            mechanism, digest = MECHANISMS[key.key_type]
        except KeyError:
            raise SigningError(f"unsupported key type {key.key_type}") from None
        chain: Sequence[x509.Certificate] = key.certificate_chain()
        if not chain:
            raise SigningError("the seal key has no certificate")
        certificates = [to_asn1(certificate) for certificate in chain]
        store = SimpleCertificateStore()  # type: ignore[no-untyped-call]
        store.register_multiple(certificates[1:])  # the signing cert is embedded anyway
        super().__init__(
            embed_roots=embed_roots,
            signature_mechanism=SignedDigestAlgorithm({"algorithm": mechanism}),
            signing_cert=certificates[0],
            cert_registry=store,
        )
        self._key = key
        self._digest = digest
        self._signature_size = SIGNATURE_SIZES[key.key_type]

    @property
    def digest_algorithm(self) -> str:
        return self._digest

    @property
    def signature_size(self) -> int:
        return self._signature_size

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        """The raw signature over ``data`` (the signed attributes' DER, RFC 5652 §5.4)."""
        if digest_algorithm != self._digest:
            raise SigningError(
                f"{self._key.key_type} keys sign with {self._digest}, not {digest_algorithm}"
            )
        if dry_run:
            return bytes(self._signature_size)
        return self._key.sign(data)
