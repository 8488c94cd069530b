"""At-rest protection for identifiers: blind index plus authenticated encryption.

* Blind index: HMAC-SHA256 (RFC 2104, FIPS 198-1) keyed with a dedicated index
  key over ``kind || 0x00 || value`` -- deterministic, so equality lookups work
  without storing the clear value.
* Encryption: AES-256-GCM (NIST SP 800-38D), or SM4-GCM where the deployment chooses the
  national algorithms (:mod:`core.aead`), with a random 96-bit nonce (SP 800-38D §8.2.2).
  Blob layout::

      format (1 byte) || key id (1 byte) || nonce (12) || ciphertext || tag (16)

  format ``0x01`` is AES-256-GCM, ``0x02`` SM4-GCM: every blob says how it was made, so a
  deployment that switches algorithms still reads what it stored before. The associated
  data is ``kind (UTF-8) || 0x00 || format || key id``, so a blob cannot be replayed under
  another identifier kind, key id or format.
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
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.aead import Aead, AtRestCipher, aead
from core.identifiers.errors import IdentifierDecryptionError

__all__ = ["FORMATS", "FORMAT_VERSION", "IdentifierProtector"]

FORMATS = {AtRestCipher.AES_256_GCM: 1, AtRestCipher.SM4_GCM: 2}
CIPHERS = {number: cipher for cipher, number in FORMATS.items()}
FORMAT_VERSION = FORMATS[AtRestCipher.AES_256_GCM]
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


def _aad(kind: bytes, version: int, key_id: int) -> bytes:
    return kind + b"\x00" + bytes([version, key_id])


class IdentifierProtector:
    """Blind-indexes and encrypts identifier values (resident ID numbers, USCCs).

    ``encryption_keys`` maps key ids (0-255) to 32-byte keys; new blobs use
    ``current_key_id`` and ``cipher``, older key ids and the other cipher stay readable
    (key rotation, a change of algorithm).
    """

    __slots__ = ("_aead", "_cipher", "_current_key_id", "_index_key")

    def __init__(
        self,
        index_key: bytes,
        encryption_keys: Mapping[int, bytes],
        current_key_id: int,
        cipher: AtRestCipher = AtRestCipher.AES_256_GCM,
    ) -> None:
        self._index_key = _check_key(index_key, "index_key")
        ciphers: dict[tuple[int, int], Aead] = {}
        for key_id, key in encryption_keys.items():
            if not isinstance(key_id, int) or not 0 <= key_id <= 255:
                raise ValueError("encryption key ids must be integers in 0-255")
            checked = _check_key(key, f"encryption key {key_id}")
            for kind, version in FORMATS.items():
                ciphers[(version, key_id)] = aead(kind, checked)
        if current_key_id not in encryption_keys:
            raise ValueError("current_key_id has no key in encryption_keys")
        self._aead = ciphers
        self._cipher = cipher
        self._current_key_id = current_key_id

    @classmethod
    def from_secret(
        cls, secret: bytes, cipher: AtRestCipher = AtRestCipher.AES_256_GCM
    ) -> IdentifierProtector:
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
            cipher,
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

    @property
    def cipher(self) -> AtRestCipher:
        """The algorithm :meth:`encrypt` uses."""
        return self._cipher

    def encrypt(self, kind: str, value: str) -> bytes:
        """Encrypt ``value`` under the current key with the configured cipher."""
        kind_bytes = _check_kind(kind)
        version, key_id = FORMATS[self._cipher], self._current_key_id
        nonce = os.urandom(_NONCE_LEN)
        aad = _aad(kind_bytes, version, key_id)
        sealed = self._aead[(version, key_id)].encrypt(nonce, value.encode("utf-8"), aad)
        return bytes([version, key_id]) + nonce + sealed

    def decrypt(self, kind: str, blob: bytes) -> str:
        """Decrypt a blob made by :meth:`encrypt` for the same ``kind``.

        Raises :class:`IdentifierDecryptionError` on an unknown format version or
        key id, truncation, a different ``kind`` or any modification.
        """
        kind_bytes = _check_kind(kind)
        key_id = self._key_id_of(blob)
        cipher = self._aead.get((blob[0], key_id))
        if cipher is None:
            raise IdentifierDecryptionError(f"no key with id {key_id}")
        nonce = blob[_HEADER_LEN : _HEADER_LEN + _NONCE_LEN]
        aad = _aad(kind_bytes, blob[0], key_id)
        try:
            plain = cipher.decrypt(nonce, blob[_HEADER_LEN + _NONCE_LEN :], aad)
            return plain.decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise IdentifierDecryptionError(
                "authentication failed (wrong kind, wrong key or tampered data)"
            ) from None

    def needs_reencryption(self, blob: bytes) -> bool:
        """True when ``blob`` is not under the current key id (key rotation) or not made
        with the configured cipher.

        Raises :class:`IdentifierDecryptionError` if the blob is not in a known format.
        """
        key_id = self._key_id_of(blob)
        return key_id != self._current_key_id or blob[0] != FORMATS[self._cipher]

    @staticmethod
    def _key_id_of(blob: bytes) -> int:
        if len(blob) < _HEADER_LEN + _NONCE_LEN + _TAG_LEN:
            raise IdentifierDecryptionError("blob is too short")
        if blob[0] not in CIPHERS:
            raise IdentifierDecryptionError(f"unknown format version {blob[0]}")
        return blob[1]

    def __repr__(self) -> str:
        key_ids = sorted({key_id for _, key_id in self._aead})
        return (
            f"IdentifierProtector(key_ids={key_ids}, "
            f"current_key_id={self._current_key_id}, cipher={self._cipher.value})"
        )
