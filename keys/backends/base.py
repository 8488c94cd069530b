"""Where private keys live. Every backend hands out signers; none hands out a private key.

A backend creates a key and returns an opaque *reference* that the key registry stores
(software: the key wrapped under the master key; PKCS#11: the token object's id). Loading
a reference gives a :class:`RawSigner`, whose signature is in X.509/CMS form: DER ECDSA,
PKCS#1 v1.5 RSA with SHA-256, or plain Ed25519.
"""

from __future__ import annotations

from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from core.errors.problem import DependencyUnavailable
from keys.algorithms import KeyType


class KeyBackendError(DependencyUnavailable):
    """The backend is missing, misconfigured or refused an operation."""


class RawSigner(Protocol):
    @property
    def key_type(self) -> KeyType: ...

    def public_key(self) -> PublicKeyTypes: ...

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (the backend hashes it with SHA-256 where the scheme needs it)."""
        ...


class KeyBackend(Protocol):
    @property
    def name(self) -> str:
        """``software`` or ``pkcs11``: stored beside each key's reference."""
        ...

    def generate(self, key_type: KeyType, label: str) -> bytes:
        """Create a key pair; return the reference to store."""
        ...

    def load(self, key_type: KeyType, reference: bytes, label: str = "") -> RawSigner:
        """A signer for a stored reference (``label`` is the key id it was generated under);
        raises :class:`KeyBackendError` if it is gone or cannot be unwrapped."""
        ...

    def destroy(self, reference: bytes) -> None:
        """Remove the private key (used when key creation is rolled back)."""
        ...
