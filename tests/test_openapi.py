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
