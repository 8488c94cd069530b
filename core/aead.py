"""Authenticated encryption at rest, with the algorithm chosen per deployment
(``GOVTRUST_AT_REST_CIPHER``): AES-256-GCM (NIST SP 800-38D) or SM4-GCM (GB/T 32907-2016
SM4 in GCM, GB/T 36624-2018 / RFC 8998 §3.1), the national algorithm a GB/T 39786
commercial-cryptography assessment asks for.

Both take a 96-bit random nonce and give a 128-bit tag. An SM4 key is 128 bits: the first
16 bytes of a 32-byte key the caller holds (every key here is uniformly random or HKDF
output, so its prefix is too), or a 16-byte key made for SM4. SM4 runs in Tongsuo
(``tongsuopy``), the C library ``keys/sm2.py`` signs with; its authentication failure is
reported as ``cryptography``'s ``InvalidTag``, so callers handle one exception for both.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tongsuopy.crypto.ciphers.aead import SM4GCM
from tongsuopy.crypto.exceptions import InvalidTag as TongsuoInvalidTag

SM4_KEY_BYTES = 16


class AtRestCipher(StrEnum):
    AES_256_GCM = "AES-256-GCM"
    SM4_GCM = "SM4-GCM"


class Aead(Protocol):
    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


class _Sm4Gcm:
    def __init__(self, key: bytes) -> None:
        self._aead = SM4GCM(key[:SM4_KEY_BYTES])

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        return bytes(self._aead.encrypt(nonce, data, associated_data))

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        try:
            return bytes(self._aead.decrypt(nonce, data, associated_data))
        except TongsuoInvalidTag:
            raise InvalidTag() from None


def aead(cipher: AtRestCipher, key: bytes) -> Aead:
    """An AEAD of ``cipher`` keyed with ``key``: 32 bytes, or for SM4 also its own 16."""
    if cipher is AtRestCipher.SM4_GCM and len(key) in (SM4_KEY_BYTES, 32):
        return _Sm4Gcm(key)
    if len(key) != 32:
        raise ValueError(f"{cipher.value} keys here are 32 bytes")
    return AESGCM(key)
