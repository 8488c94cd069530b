"""Access-token signatures this process has verified, remembered while the token lives.

A resource server introspects the same access token for every call it serves, and checking
an ES256 signature costs about three times making one. :class:`VerifiedTokens` remembers,
for at most :data:`MAX_ENTRIES` tokens (least recently used out first), the claims of each
token whose signature verified and the ``kid`` that verified it. Only the signature is
remembered: a hit counts only while that key is still published (a withdrawn key ends it at
once), and the caller checks the claims' times and the token's row (revocation) on every
request, as on a miss. Entries are found by the token's SHA-256, so the memory holds no
token that could be presented.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from idp.oauth import jws

MAX_ENTRIES = 4096


class VerifiedTokens:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[str, dict[str, Any]]] = OrderedDict()

    def claims(self, token: str, keys: Mapping[str, Any]) -> dict[str, Any] | None:
        """The claims of ``token`` if it is an ``at+jwt`` signed by one of ``keys`` (by
        ``kid``, RFC 8725 §3.1), else None. A fresh dict each time."""
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None:
                if entry[0] in keys:
                    self._entries.move_to_end(digest)
                    return dict(entry[1])
                del self._entries[digest]
        try:
            claims = jws.verify(token, keys, typ="at+jwt")
        except jws.InvalidJws:
            return None
        kid = str(jws.unverified_header(token).get("kid"))
        with self._lock:
            self._entries[digest] = (kid, dict(claims))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return claims
