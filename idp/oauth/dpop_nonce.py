"""Server-provided DPoP nonces (RFC 9449 §8 at the token endpoint, §9 at resource servers).

A server that wants fresh proofs answers a proof without its current nonce with
``use_dpop_nonce`` and the nonce in a ``DPoP-Nonce`` header; the client repeats the request
with a new proof carrying it (§8.1). Nonces here are stateless, so that every worker
issues and accepts the same ones without sharing state (§8: "the server MAY ... use
stateless nonces"): the time is cut into buckets of ``window_seconds``; the nonce of a
bucket is the bucket number and an HMAC-SHA-256 (RFC 2104) of it under a key derived from
the deployment secret. A nonce is accepted during its bucket and the next one, so a nonce
lives between one and two windows; a new one is handed out with every DPoP response
(§8.2), so the nonce rotates by itself. The authorization server's nonces and the resource
servers' are separate (``audience``), as §9 asks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime

DEFAULT_WINDOW_SECONDS = 60
_BUCKET_BYTES = 8
_MAC_BYTES = 16
TOKEN_ENDPOINT = "token"  # noqa: S105 - an audience name
RESOURCE = "resource"


def derive_nonce_key(hash_key: bytes) -> bytes:
    return hmac.new(hash_key, b"govtrust dpop nonce key v1", hashlib.sha256).digest()


class DpopNonces:
    """Issue and check stateless DPoP nonces."""

    def __init__(
        self,
        key: bytes,
        clock: Callable[[], datetime],
        window_seconds: int = DEFAULT_WINDOW_SECONDS,
    ) -> None:
        if len(key) < 32 or window_seconds <= 0:
            raise ValueError("a 32-byte key and a positive window")
        self._key = key
        self._clock = clock
        self.window_seconds = window_seconds

    def _bucket(self) -> int:
        return int(self._clock().timestamp()) // self.window_seconds

    def _nonce(self, audience: str, bucket: int) -> str:
        number = bucket.to_bytes(_BUCKET_BYTES, "big")
        mac = hmac.new(self._key, audience.encode() + b"\x00" + number, hashlib.sha256)
        raw = number + mac.digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def current(self, audience: str) -> str:
        return self._nonce(audience, self._bucket())

    def valid(self, audience: str, nonce: object) -> bool:
        """True for the nonce of this bucket or the previous one, for ``audience``."""
        if not isinstance(nonce, str) or len(nonce) > 64:
            return False
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except ValueError:
            return False
        if len(raw) != _BUCKET_BYTES + _MAC_BYTES:
            return False
        bucket = int.from_bytes(raw[:_BUCKET_BYTES], "big")
        if bucket not in (self._bucket(), self._bucket() - 1):
            return False
        return hmac.compare_digest(self._nonce(audience, bucket), nonce)

    def checker(self, audience: str) -> Callable[[object], bool]:
        return lambda nonce: self.valid(audience, nonce)
