"""Pushed authorization requests (RFC 9126).

The client POSTs its authorization request to the PAR endpoint (authenticated), gets a
``request_uri`` (``urn:ietf:params:oauth:request_uri:…``) valid for 60 seconds, and sends
only ``client_id`` and ``request_uri`` through the browser. The pushed request is
single-use (§4) and bound to the client that pushed it (§2.1): another client, a second use
or an expired one gets ``invalid_request_uri``. Kept in the shared cache.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from core.cache.base import Cache

PREFIX = "urn:ietf:params:oauth:request_uri:"
LIFETIME_SECONDS = 60


@dataclass(frozen=True)
class PushedRequest:
    request_uri: str
    client_id: str
    params: dict[str, str]


def push(cache: Cache, client_id: str, params: dict[str, str]) -> PushedRequest:
    request_uri = PREFIX + secrets.token_urlsafe(32)
    body = json.dumps({"client_id": client_id, "params": params}).encode()
    cache.set(f"par:{request_uri}", body, ttl=LIFETIME_SECONDS)
    return PushedRequest(request_uri, client_id, params)


def take(cache: Cache, request_uri: str, client_id: str) -> PushedRequest | None:
    """The pushed request, once: claimed atomically, then forgotten."""
    if not request_uri.startswith(PREFIX) or len(request_uri) > 200:
        return None
    raw = cache.get(f"par:{request_uri}")
    if raw is None or not cache.add(f"par-used:{request_uri}", b"1", ttl=LIFETIME_SECONDS):
        return None
    cache.delete(f"par:{request_uri}")
    stored = json.loads(raw)
    if stored["client_id"] != client_id:
        return None
    return PushedRequest(request_uri, client_id, dict(stored["params"]))
