"""The master key that wraps every software private key (AES-256-GCM envelope).

Each private key is encrypted under its own data key (DEK); the DEK is wrapped under the
master key (KEK). Rotating the master key re-wraps DEKs only. The master key comes from
``GOVTRUST_MASTER_KEY`` (base64 of 32 bytes) or ``GOVTRUST_MASTER_KEY_FILE``; it is never
stored in the database nor in the data directory. During a rotation the previous master keys
are given too (``GOVTRUST_MASTER_KEY_PREVIOUS``), so that every worker can read keys wrapped
under either while ``govtrust keys rewrap`` runs: no downtime.

Wrapped form: ``magic || kek_id(8) || nonce(12) || AEAD_kek(DEK) || nonce(12) ||
AEAD_dek(private key PKCS#8 DER)``; the associated data binds both layers to the key id.
The magic names the AEAD of both layers (:mod:`core.aead`): ``GTK1`` AES-256-GCM with a
256-bit DEK, ``GTK2`` SM4-GCM with a 128-bit DEK (``GOVTRUST_AT_REST_CIPHER=SM4-GCM``). New
keys are wrapped with the configured one; either is read, so a deployment can switch; a
rewrap keeps a key's own algorithm (only its DEK is re-encrypted).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag

from core.aead import SM4_KEY_BYTES, AtRestCipher, aead

MAGIC = b"GTK1"
MAGICS = {AtRestCipher.AES_256_GCM: MAGIC, AtRestCipher.SM4_GCM: b"GTK2"}
_CIPHERS = {magic: cipher for cipher, magic in MAGICS.items()}
_DEK_BYTES = {AtRestCipher.AES_256_GCM: 32, AtRestCipher.SM4_GCM: SM4_KEY_BYTES}
_NONCE = 12
_TAG = 16


class MasterKeyError(RuntimeError):
    """The master key is missing, malformed, or not the one that wrapped a key."""


def kek_id(key: bytes) -> bytes:
    return hashlib.sha256(b"govtrust master key id" + key).digest()[:8]


def decode_master_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MasterKeyError("the master key is not base64") from exc
    if len(key) != 32:
        raise MasterKeyError("the master key must be 32 bytes (base64 of 32 random bytes)")
    return key


def new_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@dataclass(frozen=True)
class MasterKeys:
    """The current master key and any previous ones still accepted for unwrapping."""

    current: bytes
    previous: Sequence[bytes] = ()
    cipher: AtRestCipher = AtRestCipher.AES_256_GCM

    def __post_init__(self) -> None:
        for key in (self.current, *self.previous):
            if len(key) != 32:
                raise MasterKeyError("master keys are 32 bytes")

    @property
    def current_id(self) -> bytes:
        return kek_id(self.current)

    def _by_id(self, wanted: bytes) -> bytes:
        for key in (self.current, *self.previous):
            if kek_id(key) == wanted:
                return key
        raise MasterKeyError(
            "this key was wrapped under a master key that is not configured "
            "(wrong GOVTRUST_MASTER_KEY, or the previous one is missing during a rotation)"
        )

    def wrap(self, key_id: str, secret: bytes) -> bytes:
        aad = b"govtrust private key|" + key_id.encode()
        dek = os.urandom(_DEK_BYTES[self.cipher])
        dek_nonce, key_nonce = os.urandom(_NONCE), os.urandom(_NONCE)
        wrapped_dek = _encrypt(self.cipher, self.current, dek_nonce, dek, aad)
        body = _encrypt(self.cipher, dek, key_nonce, secret, aad)
        return MAGICS[self.cipher] + self.current_id + dek_nonce + wrapped_dek + key_nonce + body

    def _split(self, blob: bytes) -> tuple[AtRestCipher, bytes, bytes, bytes, bytes]:
        cipher = _CIPHERS.get(blob[:4])
        if cipher is None:
            raise MasterKeyError("not a wrapped govtrust key")
        wrapped_length = _DEK_BYTES[cipher] + _TAG
        if len(blob) < 4 + 8 + 2 * _NONCE + wrapped_length + _TAG:
            raise MasterKeyError("not a wrapped govtrust key")
        head = 4 + 8
        dek_nonce = blob[head : head + _NONCE]
        wrapped_dek = blob[head + _NONCE : head + _NONCE + wrapped_length]
        rest = blob[head + _NONCE + wrapped_length :]
        return cipher, blob[4:head], dek_nonce, wrapped_dek, rest

    def _dek(self, key_id: str, blob: bytes) -> tuple[AtRestCipher, bytes, bytes]:
        cipher, wanted, dek_nonce, wrapped_dek, rest = self._split(blob)
        aad = b"govtrust private key|" + key_id.encode()
        try:
            dek = _decrypt(cipher, self._by_id(wanted), dek_nonce, wrapped_dek, aad)
        except InvalidTag as exc:
            raise MasterKeyError(f"key {key_id}: wrapped key does not authenticate") from exc
        return cipher, dek, rest

    def unwrap(self, key_id: str, blob: bytes) -> bytes:
        cipher, dek, rest = self._dek(key_id, blob)
        aad = b"govtrust private key|" + key_id.encode()
        try:
            return _decrypt(cipher, dek, rest[:_NONCE], rest[_NONCE:], aad)
        except InvalidTag as exc:
            raise MasterKeyError(f"key {key_id}: wrapped key does not authenticate") from exc

    def needs_rewrap(self, blob: bytes) -> bool:
        return self._split(blob)[1] != self.current_id

    def rewrap(self, key_id: str, blob: bytes) -> bytes:
        """The same private key under the current master key (only the DEK is re-encrypted,
        with the algorithm the key was wrapped with)."""
        cipher, dek, rest = self._dek(key_id, blob)
        aad = b"govtrust private key|" + key_id.encode()
        dek_nonce = os.urandom(_NONCE)
        wrapped_dek = _encrypt(cipher, self.current, dek_nonce, dek, aad)
        return MAGICS[cipher] + self.current_id + dek_nonce + wrapped_dek + rest


def _encrypt(cipher: AtRestCipher, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    return aead(cipher, key).encrypt(nonce, data, aad)


def _decrypt(cipher: AtRestCipher, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    return aead(cipher, key).decrypt(nonce, data, aad)
