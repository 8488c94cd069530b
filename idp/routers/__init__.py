"""The provider's HTTP routers."""

OAUTH_ERROR_PATHS = frozenset(
    {
        "/token",
        "/par",
        "/introspect",
        "/revoke",
        "/device_authorization",
        "/bc-authorize",
        "/userinfo",
    }
)
"""The endpoints that answer client errors as RFC 6749 §5.2 error JSON (RFC 6750 §3 on
UserInfo) rather than problem+json; the OpenAPI document says so (core.openapi_schema)."""
