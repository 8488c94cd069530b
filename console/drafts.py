"""Documents an approver uploaded and has not sealed yet (or just sealed), for a short time.

Stamping takes several pages (upload, preview, step-up, confirm, download), and a step-up
logs in again, which gives the browser a new console session; so a draft is bound to the
*person*, not to the console session. It is kept in the cache under a random id, encrypted
(AES-256-GCM) with a key derived from the deployment's secret and the id, with the owner's
id as associated data: a copy of the cache alone reads nothing, and a draft id in another
person's hands opens nothing (it is "not found", like a stranger's licence). Drafts expire
after :data:`DRAFT_SECONDS`; the service never keeps the documents longer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.cache import Cache

DRAFT_SECONDS = 30 * 60
_PREFIX = "console:draft:"


@dataclass(frozen=True)
class Document:
    name: str
    pdf: bytes


@dataclass(frozen=True)
class Draft:
    """What an approver asked for: which seal, where, at which level, for what."""

    owner: str
    seal_id: str
    level: str
    purpose: str
    placement: dict[str, Any]
    """``{"anchor": text, "size": s}`` or ``{"page": p, "x": x, "y": y, "size": s}``."""
    documents: tuple[Document, ...]
    sealed: bytes | None = None
    result: dict[str, Any] = field(default_factory=dict)
    """After sealing: the hashes and the audit index."""

    def with_result(self, sealed: bytes, result: dict[str, Any]) -> Draft:
        return replace(self, sealed=sealed, result=result)


def _key(secret: bytes, draft_id: str) -> bytes:
    return hmac.new(
        secret, b"govtrust console draft\x00" + draft_id.encode(), hashlib.sha256
    ).digest()


def _encode(draft: Draft) -> bytes:
    data = asdict(draft)
    data["documents"] = [
        {"name": d.name, "pdf": base64.b64encode(d.pdf).decode()} for d in draft.documents
    ]
    data["sealed"] = None if draft.sealed is None else base64.b64encode(draft.sealed).decode()
    return json.dumps(data, separators=(",", ":")).encode()


def _decode(raw: bytes) -> Draft:
    data = json.loads(raw)
    data["documents"] = tuple(
        Document(str(d["name"]), base64.b64decode(d["pdf"])) for d in data["documents"]
    )
    if data.get("sealed") is not None:
        data["sealed"] = base64.b64decode(data["sealed"])
    return Draft(**data)


class DraftStore:
    def __init__(self, cache: Cache, secret: bytes) -> None:
        self.cache = cache
        self.secret = secret

    def save(self, draft: Draft, draft_id: str | None = None) -> str:
        """Store ``draft`` (under a new id unless ``draft_id``); the id is returned."""
        draft_id = draft_id or secrets.token_hex(16)
        nonce = os.urandom(12)
        sealed = AESGCM(_key(self.secret, draft_id)).encrypt(
            nonce, _encode(draft), draft.owner.encode()
        )
        self.cache.set(_PREFIX + draft_id, nonce + sealed, ttl=DRAFT_SECONDS)
        return draft_id

    def load(self, draft_id: str, owner: str) -> Draft | None:
        """The draft, if it exists and is ``owner``'s (anyone else: None, as if missing)."""
        if len(draft_id) != 32 or not all(c in "0123456789abcdef" for c in draft_id):
            return None
        raw = self.cache.get(_PREFIX + draft_id)
        if raw is None or len(raw) < 13:
            return None
        try:
            plain = AESGCM(_key(self.secret, draft_id)).decrypt(raw[:12], raw[12:], owner.encode())
            draft = _decode(plain)
        except (InvalidTag, ValueError, KeyError, TypeError):
            return None
        return draft if draft.owner == owner else None

    def delete(self, draft_id: str) -> None:
        self.cache.delete(_PREFIX + draft_id)
