"""Client secrets: generated with 256 bits of entropy, stored only as a keyed hash.

Like Ory Hydra/fosite, a database leak yields no usable secret. Because the secrets are
random and long, a keyed SHA-256 (HMAC) is enough; no slow hash is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_client_secret(key: bytes, secret: str) -> str:
    return hmac.new(key, b"client-secret\x00" + secret.encode(), hashlib.sha256).hexdigest()


def check_client_secret(key: bytes, stored: str | None, presented: str) -> bool:
    if stored is None:
        return False
    return hmac.compare_digest(stored, hash_client_secret(key, presented))
