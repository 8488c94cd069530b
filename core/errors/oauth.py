"""OAuth 2.0 error responses (RFC 6749 §5.2, §4.1.2.1).

OAuth endpoints (token, introspection, revocation, PAR, device authorization) answer errors
with this JSON body rather than problem+json, because OAuth clients parse it.
"""

from __future__ import annotations

from typing import Any

# RFC 6749 §5.2 and the extension registries; status codes per RFC 6749 §5.2 (400, 401
# for invalid_client when the client authenticated through the Authorization header).
OAUTH_ERROR_STATUS: dict[str, int] = {
    "invalid_request": 400,
    "invalid_client": 401,
    "invalid_grant": 400,
    "unauthorized_client": 400,
    "unsupported_grant_type": 400,
    "invalid_scope": 400,
    "invalid_token": 401,
    "insufficient_scope": 403,
    "access_denied": 403,
    "server_error": 500,
    "temporarily_unavailable": 503,
}


class OAuthError(Exception):
    """An RFC 6749 error: ``error`` code and optional human-readable description."""

    def __init__(
        self,
        error: str,
        description: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(error if description is None else f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    @property
    def status_code(self) -> int:
        return self.status or OAUTH_ERROR_STATUS.get(self.error, 400)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body
