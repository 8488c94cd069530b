"""Console sessions: the person's tokens, kept server-side in the cache under a random cookie.

The browser holds only a random 256-bit value in an ``HttpOnly``, ``SameSite=Lax`` cookie
(``Secure`` whenever the service is served over https). The cache (Redis when several
workers run, :mod:`core.cache`) holds the session under a hash of that value, encrypted
(AES-256-GCM) with a key derived from it: a copy of the cache alone yields neither a cookie
nor a usable token. A session ends after :data:`IDLE_SECONDS` without a request (a small
"last seen" entry beside it, renewed on every request, so that concurrent requests never
write the session over one another) and at most :data:`ABSOLUTE_SECONDS` after login,
whatever its tokens say. The session itself is written only at login and when its tokens
are refreshed. A licence administrator's search results are kept beside it, under the same
key, so that the holder code searched for never goes into a URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.cache import Cache

COOKIE = "govtrust_console"
IDLE_SECONDS = 30 * 60
ABSOLUTE_SECONDS = 8 * 60 * 60
SEARCH_SECONDS = 30 * 60
PENDING_SECONDS = 30 * 60
_PREFIX = "console:session:"


@dataclass(frozen=True)
class ConsoleSession:
    """One logged-in browser: the person, their tokens, and this session's CSRF token.

    ``access_expires_at`` is in POSIX seconds on the provider's clock (the one tokens are
    checked against), ``created_at`` on the wall clock (the one the cache expires on).
    """

    person_id: str
    subject: str
    access_token: str
    refresh_token: str | None
    id_token: str
    access_expires_at: float
    csrf: str
    created_at: float
    grant_id: str | None = None
    login_session_id: str | None = None

    def with_tokens(
        self, access_token: str, refresh_token: str | None, id_token: str | None, expires_at: float
    ) -> ConsoleSession:
        return replace(
            self,
            access_token=access_token,
            refresh_token=refresh_token or self.refresh_token,
            id_token=id_token or self.id_token,
            access_expires_at=expires_at,
        )


def _derive(label: bytes, cookie: str) -> bytes:
    """A key or id derived from the cookie value (which is 256 random bits)."""
    return hashlib.sha256(
        b"govtrust console session\x00" + label + b"\x00" + cookie.encode()
    ).digest()


class SessionStore:
    """Create, read, refresh and end console sessions in the cache."""

    def __init__(self, cache: Cache, clock: Callable[[], float] = time.time) -> None:
        self.cache = cache
        self.clock = clock

    @staticmethod
    def _key(cookie: str, kind: str = "") -> str:
        return f"{_PREFIX}{kind}{_derive(b'id', cookie).hex()}"

    @staticmethod
    def _seal(cookie: str, key: str, value: object) -> bytes:
        nonce = os.urandom(12)
        plain = json.dumps(value, separators=(",", ":")).encode()
        aead = AESGCM(_derive(b"key", cookie))
        return nonce + aead.encrypt(nonce, plain, key.encode())

    @staticmethod
    def _open(cookie: str, key: str, sealed: bytes | None) -> object:
        if sealed is None or len(sealed) < 13:
            return None
        try:
            aead = AESGCM(_derive(b"key", cookie))
            return json.loads(aead.decrypt(sealed[:12], sealed[12:], key.encode()))
        except (InvalidTag, ValueError):
            return None

    def _remaining(self, session: ConsoleSession) -> float:
        return ABSOLUTE_SECONDS - (self.clock() - session.created_at)

    def create(self, session: ConsoleSession) -> str:
        """Store ``session`` under a new random cookie value, which is returned."""
        cookie = secrets.token_urlsafe(32)
        self.save(cookie, session)
        self.touch(cookie)
        return cookie

    def save(self, cookie: str, session: ConsoleSession) -> None:
        """Write ``session`` (at login, and when its tokens are refreshed)."""
        ttl = self._remaining(session)
        if ttl <= 0:
            self.delete(cookie)
            return
        key = self._key(cookie)
        self.cache.set(key, self._seal(cookie, key, asdict(session)), ttl=ttl)

    def touch(self, cookie: str) -> None:
        """Note a request: the session lives :data:`IDLE_SECONDS` more."""
        self.cache.set(self._key(cookie, "seen:"), b"1", ttl=IDLE_SECONDS)

    def load(self, cookie: str | None) -> ConsoleSession | None:
        """The session of ``cookie``, or None (unknown, idle too long, expired, not ours)."""
        if not cookie or len(cookie) > 128:
            return None
        if self.cache.get(self._key(cookie, "seen:")) is None:
            self.delete(cookie)
            return None
        key = self._key(cookie)
        data = self._open(cookie, key, self.cache.get(key))
        if not isinstance(data, dict):
            return None
        try:
            session = ConsoleSession(**data)
        except TypeError:
            return None
        if self._remaining(session) <= 0:
            self.delete(cookie)
            return None
        return session

    def delete(self, cookie: str | None) -> None:
        if cookie:
            self.cache.delete(self._key(cookie))
            self.cache.delete(self._key(cookie, "seen:"))

    def save_search(self, cookie: str, search_id: str, identifiers: list[str]) -> None:
        """Keep a search's results (licence identifiers) for :data:`SEARCH_SECONDS`."""
        key = self._key(cookie, f"search:{search_id}:")
        self.cache.set(key, self._seal(cookie, key, identifiers), ttl=SEARCH_SECONDS)

    def load_search(self, cookie: str, search_id: str) -> list[str] | None:
        if not search_id.isalnum() or len(search_id) > 64:
            return None
        key = self._key(cookie, f"search:{search_id}:")
        data = self._open(cookie, key, self.cache.get(key))
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            return None
        return list(data)

    def save_pending(self, cookie: str, kind: str, pending_id: str, value: object) -> None:
        """Keep a step awaiting confirmation (an issue, an import) for
        :data:`PENDING_SECONDS`, sealed with this session's key: another session, or a copy
        of the cache, reads nothing of it (a holder code in it stays unreadable)."""
        key = self._key(cookie, f"pending:{kind}:{pending_id}:")
        self.cache.set(key, self._seal(cookie, key, value), ttl=PENDING_SECONDS)

    def load_pending(self, cookie: str, kind: str, pending_id: str) -> object:
        """The step kept by :meth:`save_pending`, or None (expired, another session's)."""
        if not pending_id.isalnum() or len(pending_id) > 64:
            return None
        key = self._key(cookie, f"pending:{kind}:{pending_id}:")
        return self._open(cookie, key, self.cache.get(key))

    def take_pending(self, cookie: str, kind: str, pending_id: str) -> bool:
        """Use up the step: True for the one request that does (the cache's delete is
        atomic), so that a step confirmed twice at once is carried out once."""
        return self.cache.delete(self._key(cookie, f"pending:{kind}:{pending_id}:"))
