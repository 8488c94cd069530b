"""Make the generated OpenAPI document tell the truth about errors.

FastAPI documents its own 422 body; govtrust answers every error as RFC 9457
problem+json. This replaces the 422 response of each operation and adds the 4XX/5XX
problem responses every operation can give. Two kinds of operation answer some errors
otherwise, and say so too: the OAuth endpoints named by the app (RFC 6749 §5.2 error JSON,
RFC 6750 §3 on UserInfo), and pages (an operation whose success is ``text/html`` shows its
errors as a page, as RFC 6749 §4.1.2.1 asks of the authorization endpoint).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from core.errors.problem import PROBLEM_MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}

OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "title": "OAuthError",
    "description": "RFC 6749 §5.2 error response",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "error_description": {"type": "string"},
        "error_uri": {"type": "string"},
    },
    "additionalProperties": True,
}
_OAUTH_ERROR = {"schema": {"$ref": "#/components/schemas/OAuthError"}}
_HTML_PAGE = {"schema": {"type": "string"}}

_PROBLEM_REF = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": _PROBLEM_REF}


def _answers_pages(operation: dict[str, Any]) -> bool:
    success = operation.get("responses", {}).get("200", {})
    return "text/html" in success.get("content", {})


def install_problem_openapi(app: FastAPI, oauth_error_paths: frozenset[str] = frozenset()) -> None:
    """``oauth_error_paths``: the OAuth endpoints, whose 4xx answers are RFC 6749 error JSON."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Problem"] = PROBLEM_SCHEMA
        if oauth_error_paths:
            schemas["OAuthError"] = OAUTH_ERROR_SCHEMA
        for route, path in document.get("paths", {}).items():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = _problem("The request does not match (problem+json)")
                for status, response in responses.items():
                    if status.startswith(("4", "5")) and "content" not in response:
                        response["content"] = _PROBLEM_REF
                responses.setdefault("4XX", _problem("Client error (problem+json)"))
                responses.setdefault("5XX", _problem("Server error (problem+json)"))
                pages = _answers_pages(operation)
                for status, response in responses.items():
                    if not status.startswith(("4", "5")):
                        continue
                    content = response["content"] = dict(response["content"])
                    if pages:
                        content["text/html"] = _HTML_PAGE
                    if route in oauth_error_paths and status.startswith("4"):
                        content["application/json"] = _OAUTH_ERROR
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
