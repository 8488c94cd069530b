"""SM2 keys in the software backend (GB/T 32918, via :mod:`keys.sm2`).

Stored like every software key: PKCS#8 DER wrapped under the master key (:mod:`keys.master`).
A subclass of :class:`~keys.backends.software.SoftwareSigner` so that the backend's cache and
``load`` keep their types; it signs SM2-with-SM3 with the default ID (GM/T 0009 §10), DER
``(r, s)``.
"""

from __future__ import annotations

from keys.algorithms import KeyType
from keys.backends.software import SoftwareSigner
from keys.sm2 import Sm2PrivateKey, Sm2PublicKey


class Sm2SoftwareSigner(SoftwareSigner):
    def __init__(self, private_key: Sm2PrivateKey) -> None:  # no super(): not a cryptography key
        self._sm2 = private_key

    @property
    def key_type(self) -> KeyType:
        return KeyType.SM2

    def public_key(self) -> Sm2PublicKey:
        return self._sm2.public_key()

    def sign(self, data: bytes) -> bytes:
        return self._sm2.sign(data)

    def __repr__(self) -> str:
        return "Sm2SoftwareSigner(SM2)"
