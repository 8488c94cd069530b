"""The committed OpenAPI document is the one the app generates."""

from __future__ import annotations

import json

from core.openapi_document import COMMITTED, openapi_document


def test_committed_openapi_is_current() -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == openapi_document(), (
        "openapi/openapi.json is stale: run `govtrust openapi --output openapi/openapi.json`"
    )


def test_every_error_response_is_documented_as_problem_json() -> None:
    document = openapi_document()
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert "application/problem+json" in response["content"], (path, method)


def test_content_types_are_the_ones_answered() -> None:
    """Found by tests/security/test_contract_fuzz.py: the OAuth endpoints answer client errors
    as RFC 6749 error JSON, the browser endpoints answer pages, the JWKS is a JWK Set."""
    paths = openapi_document()["paths"]
    for path in ("/token", "/par", "/introspect", "/revoke", "/userinfo", "/bc-authorize"):
        for operation in paths[path].values():
            error = operation["responses"]["4XX"]["content"]
            assert error["application/json"]["schema"]["$ref"].endswith("/OAuthError"), path
            assert "application/problem+json" in error  # 503 from a backing service
    for path in ("/authorize", "/logout"):
        responses = paths[path]["get"]["responses"]
        assert list(responses["200"]["content"]) == ["text/html"]
        assert "text/html" in responses["4XX"]["content"] and "303" in responses
    jwks = paths["/pki/jwks.json"]["get"]["responses"]["200"]["content"]
    assert list(jwks) == ["application/jwk-set+json"]
