"""CSRF protection for the console's forms: a token bound to the session (OWASP CSRF
Prevention Cheat Sheet, "synchronizer token pattern").

Every form carries the session's token in a hidden ``csrf`` field; a POST whose field does
not match is refused. The session cookie is also ``SameSite=Lax``, and a request whose
``Origin`` header names another origin is refused before the token is even compared.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from core.constant_time import same_text

FIELD = "csrf"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(origin_header: str | None, issuer: str) -> bool:
    """True when the browser sent no ``Origin`` or the service's own one."""
    if origin_header is None:
        return True
    return origin_header.lower() == _origin(issuer)


def valid(expected: str, presented: str | None) -> bool:
    """Constant-time comparison of the posted token with the session's."""
    if not presented or not expected:
        return False
    return same_text(presented, expected)
