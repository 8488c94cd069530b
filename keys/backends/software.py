"""Software keys: generated in process, stored only wrapped under the master key.

The reference stored in the key registry *is* the wrapped key (see :mod:`keys.master`). A
loaded key is cached per reference, since parsing a private key (RSA especially) costs more
than signing with it. SM2 keys (:mod:`keys.backends.software_sm2`) are stored the same way.
"""

from __future__ import annotations

import threading

from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
)

from keys.algorithms import KeyType, generate_private_key, key_type_of, sign_with_private_key
from keys.backends.base import KeyBackendError
from keys.master import MasterKeyError, MasterKeys


class SoftwareSigner:
    def __init__(self, private_key: PrivateKeyTypes) -> None:
        self._key = private_key
        self._public = private_key.public_key()
        self._type = key_type_of(self._public)

    @property
    def key_type(self) -> KeyType:
        return self._type

    def public_key(self) -> PublicKeyTypes:
        return self._public

    def sign(self, data: bytes) -> bytes:
        return sign_with_private_key(self._key, data)

    def __repr__(self) -> str:
        return f"SoftwareSigner({self._type.value})"


class SoftwareBackend:
    name = "software"

    def __init__(self, master: MasterKeys) -> None:
        self.master = master
        self._cache: dict[bytes, SoftwareSigner] = {}
        self._lock = threading.Lock()

    def generate(self, key_type: KeyType, label: str) -> bytes:
        if key_type is KeyType.SM2:
            return self._generate_sm2(label)
        private_key = generate_private_key(key_type)
        der = private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        reference = self.master.wrap(label, der)
        with self._lock:
            self._cache[reference] = SoftwareSigner(private_key)
        return reference

    def load(self, key_type: KeyType, reference: bytes, label: str = "") -> SoftwareSigner:
        with self._lock:
            cached = self._cache.get(reference)
        if cached is not None:
            return cached
        try:
            der = self.master.unwrap(label, reference)
        except MasterKeyError as exc:
            raise KeyBackendError(str(exc)) from exc
        signer = (
            self._load_sm2(label, der)
            if key_type is KeyType.SM2
            else SoftwareSigner(load_der_private_key(der, password=None))
        )
        if signer.key_type is not key_type:
            raise KeyBackendError(f"key {label}: stored key is {signer.key_type}, not {key_type}")
        with self._lock:
            self._cache[reference] = signer
        return signer

    def _generate_sm2(self, label: str) -> bytes:
        from keys.backends.software_sm2 import Sm2SoftwareSigner
        from keys.sm2 import Sm2PrivateKey

        private_key = Sm2PrivateKey.generate()
        reference = self.master.wrap(label, private_key.pkcs8_der())
        with self._lock:
            self._cache[reference] = Sm2SoftwareSigner(private_key)
        return reference

    @staticmethod
    def _load_sm2(label: str, der: bytes) -> SoftwareSigner:
        from keys.backends.software_sm2 import Sm2SoftwareSigner
        from keys.sm2 import Sm2PrivateKey

        try:
            return Sm2SoftwareSigner(Sm2PrivateKey.from_pkcs8_der(der))
        except ValueError as exc:
            raise KeyBackendError(f"key {label}: stored key is not an SM2 key") from exc

    def destroy(self, reference: bytes) -> None:
        with self._lock:
            self._cache.pop(reference, None)
