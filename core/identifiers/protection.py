"""At-rest protection for identifiers: blind index plus authenticated encryption.

* Blind index: HMAC-SHA256 (RFC 2104, FIPS 198-1) keyed with a dedicated index
  key over ``kind || 0x00 || value`` -- deterministic, so equality lookups work
  without storing the clear value.
* Encryption: AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce
  (SP 800-38D §8.2.2). Blob layout::

      0x01 (format version) || key id (1 byte) || nonce (12) || ciphertext || tag (16)

  The associated data is ``kind (UTF-8) || 0x00 || version || key id``, so a blob
  cannot be replayed under another identifier kind, key id or format version.
* :meth:`IdentifierProtector.from_secret` derives both keys with HKDF-SHA256
  (RFC 5869) under distinct ``info`` labels.

Keys are never included in ``repr()`` or exception messages.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.identifiers.errors import IdentifierDecryptionError

__all__ = ["FORMAT_VERSION", "IdentifierProtector"]

FORMAT_VERSION = 1
_KEY_LEN = 32
_NONCE_LEN = 12
_TAG_LEN = 16
_HEADER_LEN = 2
_INDEX_INFO = b"govtrust identifier blind index v1"
_ENCRYPTION_INFO = b"govtrust identifier encryption v1"
_DERIVED_KEY_ID = 1


def _check_key(key: bytes, what: str) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != _KEY_LEN:
        raise ValueError(f"{what} must be exactly {_KEY_LEN} bytes")
    return bytes(key)


def _check_kind(kind: str) -> bytes:
    if not kind or "\x00" in kind:
        raise ValueError("identifier kind must be a non-empty string without NUL")
    return kind.encode("utf-8")


def _aad(kind: bytes, key_id: int) -> bytes:
    return kind + b"\x00" + bytes([FORMAT_VERSION, key_id])


class IdentifierProtector:
    """Blind-indexes and encrypts identifier values (resident ID numbers, USCCs).

    ``encryption_keys`` maps key ids (0-255) to 32-byte AES-256 keys; new blobs
    use ``current_key_id``, older ids stay readable for key rotation.
    """

    __slots__ = ("_aead", "_current_key_id", "_index_key")

    def __init__(
        self,
        index_key: bytes,
        encryption_keys: Mapping[int, bytes],
        current_key_id: int,
    ) -> None:
        self._index_key = _check_key(index_key, "index_key")
        aead: dict[int, AESGCM] = {}
        for key_id, key in encryption_keys.items():
            if not isinstance(key_id, int) or not 0 <= key_id <= 255:
                raise ValueError("encryption key ids must be integers in 0-255")
            aead[key_id] = AESGCM(_check_key(key, f"encryption key {key_id}"))
        if current_key_id not in aead:
            raise ValueError("current_key_id has no key in encryption_keys")
        self._aead = aead
        self._current_key_id = current_key_id

    @classmethod
    def from_secret(cls, secret: bytes) -> IdentifierProtector:
        """Derive index and encryption keys from one secret with HKDF-SHA256 (RFC 5869).

        The encryption key gets key id 1. ``secret`` must be at least 32 bytes.
        """
        if len(secret) < _KEY_LEN:
            raise ValueError(f"secret must be at least {_KEY_LEN} bytes")

        def derive(info: bytes) -> bytes:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=_KEY_LEN, salt=None, info=info)
            return hkdf.derive(secret)

        return cls(
            derive(_INDEX_INFO),
            {_DERIVED_KEY_ID: derive(_ENCRYPTION_INFO)},
            _DERIVED_KEY_ID,
        )

    @property
    def current_key_id(self) -> int:
        """Key id used by :meth:`encrypt`."""
        return self._current_key_id

    def blind_index(self, kind: str, value: str) -> str:
        """Hex HMAC-SHA256(index_key, kind || 0x00 || value), for equality lookups.

        Pass the *normalised* value (``ResidentId.value`` / ``Uscc.value``).
        """
        message = _check_kind(kind) + b"\x00" + value.encode("utf-8")
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()

    def encrypt(self, kind: str, value: str) -> bytes:
        """AES-256-GCM encrypt ``value`` under the current key (NIST SP 800-38D)."""
        kind_bytes = _check_kind(kind)
        key_id = self._current_key_id
        nonce = os.urandom(_NONCE_LEN)
        sealed = self._aead[key_id].encrypt(nonce, value.encode("utf-8"), _aad(kind_bytes, key_id))
        return bytes([FORMAT_VERSION, key_id]) + nonce + sealed

    def decrypt(self, kind: str, blob: bytes) -> str:
        """Decrypt a blob made by :meth:`encrypt` for the same ``kind``.

        Raises :class:`IdentifierDecryptionError` on an unknown format version or
        key id, truncation, a different ``kind`` or any modification.
        """
        kind_bytes = _check_kind(kind)
        key_id = self._key_id_of(blob)
        aead = self._aead.get(key_id)
        if aead is None:
            raise IdentifierDecryptionError(f"no key with id {key_id}")
        nonce = blob[_HEADER_LEN : _HEADER_LEN + _NONCE_LEN]
        try:
            plain = aead.decrypt(nonce, blob[_HEADER_LEN + _NONCE_LEN :], _aad(kind_bytes, key_id))
            return plain.decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise IdentifierDecryptionError(
                "authentication failed (wrong kind, wrong key or tampered data)"
            ) from None

    def needs_reencryption(self, blob: bytes) -> bool:
        """True when ``blob`` is not under the current key id (key rotation).

        Raises :class:`IdentifierDecryptionError` if the blob is not in a known format.
        """
        return self._key_id_of(blob) != self._current_key_id

    @staticmethod
    def _key_id_of(blob: bytes) -> int:
        if len(blob) < _HEADER_LEN + _NONCE_LEN + _TAG_LEN:
            raise IdentifierDecryptionError("blob is too short")
        if blob[0] != FORMAT_VERSION:
            raise IdentifierDecryptionError(f"unknown format version {blob[0]}")
        return blob[1]

    def __repr__(self) -> str:
        return (
            f"IdentifierProtector(key_ids={sorted(self._aead)}, "
            f"current_key_id={self._current_key_id})"
        )
