"""The master key that wraps every software private key (AES-256-GCM envelope).

Each private key is encrypted under its own data key (DEK); the DEK is wrapped under the
master key (KEK). Rotating the master key re-wraps DEKs only. The master key comes from
``GOVTRUST_MASTER_KEY`` (base64 of 32 bytes) or ``GOVTRUST_MASTER_KEY_FILE``; it is never
stored in the database nor in the data directory. During a rotation the previous master keys
are given too (``GOVTRUST_MASTER_KEY_PREVIOUS``), so that every worker can read keys wrapped
under either while ``govtrust keys rewrap`` runs: no downtime.

Wrapped form: ``b"GTK1" || kek_id(8) || nonce(12) || AESGCM_kek(DEK) || nonce(12) ||
AESGCM_dek(private key PKCS#8 DER)``; the associated data binds both layers to the key id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"GTK1"
_NONCE = 12
_WRAPPED_DEK = 32 + 16


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
        dek = AESGCM.generate_key(bit_length=256)
        dek_nonce, key_nonce = os.urandom(_NONCE), os.urandom(_NONCE)
        wrapped_dek = AESGCM(self.current).encrypt(dek_nonce, dek, aad)
        body = AESGCM(dek).encrypt(key_nonce, secret, aad)
        return MAGIC + self.current_id + dek_nonce + wrapped_dek + key_nonce + body

    def _split(self, blob: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        if not blob.startswith(MAGIC) or len(blob) < 4 + 8 + 2 * _NONCE + _WRAPPED_DEK + 16:
            raise MasterKeyError("not a wrapped govtrust key")
        head = len(MAGIC) + 8
        dek_nonce = blob[head : head + _NONCE]
        wrapped_dek = blob[head + _NONCE : head + _NONCE + _WRAPPED_DEK]
        rest = blob[head + _NONCE + _WRAPPED_DEK :]
        return blob[len(MAGIC) : head], dek_nonce, wrapped_dek, rest

    def _dek(self, key_id: str, blob: bytes) -> tuple[bytes, bytes]:
        wanted, dek_nonce, wrapped_dek, rest = self._split(blob)
        aad = b"govtrust private key|" + key_id.encode()
        try:
            return AESGCM(self._by_id(wanted)).decrypt(dek_nonce, wrapped_dek, aad), rest
        except InvalidTag as exc:
            raise MasterKeyError(f"key {key_id}: wrapped key does not authenticate") from exc

    def unwrap(self, key_id: str, blob: bytes) -> bytes:
        dek, rest = self._dek(key_id, blob)
        aad = b"govtrust private key|" + key_id.encode()
        try:
            return AESGCM(dek).decrypt(rest[:_NONCE], rest[_NONCE:], aad)
        except InvalidTag as exc:
            raise MasterKeyError(f"key {key_id}: wrapped key does not authenticate") from exc

    def needs_rewrap(self, blob: bytes) -> bool:
        return self._split(blob)[0] != self.current_id

    def rewrap(self, key_id: str, blob: bytes) -> bytes:
        """The same private key under the current master key (only the DEK is re-encrypted)."""
        dek, rest = self._dek(key_id, blob)
        aad = b"govtrust private key|" + key_id.encode()
        dek_nonce = os.urandom(_NONCE)
        wrapped_dek = AESGCM(self.current).encrypt(dek_nonce, dek, aad)
        return MAGIC + self.current_id + dek_nonce + wrapped_dek + rest
