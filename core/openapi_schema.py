"""Make the generated OpenAPI document tell the truth about errors.

FastAPI documents its own 422 body; govtrust answers every error as RFC 9457
problem+json. This replaces the 422 response of each operation and adds the 4XX/5XX
problem responses every operation can give.
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

_PROBLEM_REF = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": _PROBLEM_REF}


def install_problem_openapi(app: FastAPI) -> None:
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
        for path in document.get("paths", {}).values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = _problem("The request does not match (problem+json)")
                for status, response in responses.items():
                    if status.startswith(("4", "5")) and "content" not in response:
                        response["content"] = _PROBLEM_REF
                responses.setdefault("4XX", _problem("Client error (problem+json)"))
                responses.setdefault("5XX", _problem("Server error (problem+json)"))
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
