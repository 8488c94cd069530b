"""Exception handlers that turn every failure into problem+json or OAuth error JSON.

Nothing reaches the client as a stack trace: unexpected exceptions are logged (redacted)
and answered with a bare 500 problem. Validation errors never echo the input back, since
the input may be an ID number.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.audit.entry import PersonalDataInAudit
from core.cache.base import CacheUnavailable
from core.errors.oauth import OAuthError
from core.errors.problem import (
    PROBLEM_MEDIA_TYPE,
    DependencyUnavailable,
    Problem,
    ProblemError,
    for_status,
    problem_type,
)
from core.identifiers.errors import InvalidIdentifier

log = logging.getLogger("govtrust.errors")


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.to_dict(),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def oauth_error_response(error: OAuthError, headers: dict[str, str] | None = None) -> JSONResponse:
    """RFC 6749 §5.2 error body, with the error's own headers (a challenge); never cached
    (§5.1)."""
    all_headers = {
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        **error.headers,
        **(headers or {}),
    }
    return JSONResponse(error.to_dict(), status_code=error.status_code, headers=all_headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where and why, without the offending value."""
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in exc.errors()
    ]


async def _on_http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail: str | None = exc.detail if isinstance(exc.detail, str) else None
    if detail == for_status(exc.status_code).title:
        detail = None
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(for_status(exc.status_code, detail), headers=headers)


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    if any(error["type"] == "json_invalid" for error in errors):
        return problem_response(
            Problem(
                status=400,
                title="Malformed JSON body",
                type=problem_type("malformed-json"),
                detail="The request body is not valid JSON.",
            )
        )
    return problem_response(
        Problem(
            status=422,
            title="Invalid request",
            type=problem_type("validation"),
            detail="The request does not match what this operation accepts.",
            extensions={"errors": errors},
        )
    )


async def _on_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.problem)


async def _on_oauth_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OAuthError)
    return oauth_error_response(exc)


async def _on_personal_data_in_audit(_request: Request, exc: Exception) -> JSONResponse:
    """Text with an ID number reached an audit entry (refused there; its transaction is
    rolled back): the request's input, not a fault of the service."""
    return problem_response(
        Problem(
            status=422,
            title="The text must not contain an ID number",
            type=problem_type("personal-data-in-text"),
        )
    )


async def _on_invalid_identifier(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidIdentifier)
    return problem_response(
        Problem(
            status=422,
            title="Invalid identifier",
            type=problem_type("invalid-identifier"),
            detail=str(exc),
            extensions={"identifier_kind": exc.kind, "reason": exc.reason},
        )
    )


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]


def _path_aware(
    oauth_paths: frozenset[str], oauth_error: OAuthError, problem: Problem, **headers: str
) -> Handler:
    """Answer with ``oauth_error`` (RFC 6749 error JSON) on the OAuth endpoints, whose clients
    parse nothing else, and with ``problem`` everywhere else."""

    async def answer(request: Request, _exc: Exception) -> JSONResponse:
        if request.url.path in oauth_paths:
            return oauth_error_response(oauth_error, headers)
        return problem_response(problem, headers=headers)

    return answer


def _unavailable_handler(oauth_paths: frozenset[str]) -> Handler:
    """503 with ``Retry-After``: ``temporarily_unavailable`` or a problem."""
    answer = _path_aware(
        oauth_paths,
        OAuthError("temporarily_unavailable", "a backing service is not reachable", status=503),
        Problem(
            status=503,
            title="Service temporarily unavailable",
            type=problem_type("unavailable"),
            detail="A backing service is not reachable; try again shortly.",
        ),
        **{"Retry-After": "5"},
    )

    async def on_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.error("dependency unavailable: %s: %s", type(exc).__name__, exc)
        return await answer(request, exc)

    return on_unavailable


def _data_error_handler(oauth_paths: frozenset[str]) -> Handler:
    """A value the database refuses to store (PostgreSQL: a NUL character in text, a number
    out of range) came from the request: 422, or ``invalid_request`` on the OAuth endpoints.
    The unit of work was rolled back; the value is not echoed."""
    answer = _path_aware(
        oauth_paths,
        OAuthError("invalid_request", "a value is not acceptable"),
        Problem(
            status=422,
            title="A value in the request cannot be stored",
            type=problem_type("invalid-value"),
            detail="for example a NUL character in a text field",
        ),
    )

    async def on_data_error(request: Request, exc: Exception) -> JSONResponse:
        log.warning("the database refused a value: %s", type(getattr(exc, "orig", exc)).__name__)
        return await answer(request, exc)

    return on_data_error


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error: %s", type(exc).__name__)
    return problem_response(for_status(500))


def install_error_handlers(app: FastAPI, oauth_paths: frozenset[str] = frozenset()) -> None:
    """``oauth_paths``: the OAuth endpoints, which answer RFC 6749 error JSON."""
    _on_unavailable = _unavailable_handler(oauth_paths)
    app.add_exception_handler(DataError, _data_error_handler(oauth_paths))
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(OAuthError, _on_oauth_error)
    app.add_exception_handler(InvalidIdentifier, _on_invalid_identifier)
    app.add_exception_handler(PersonalDataInAudit, _on_personal_data_in_audit)
    app.add_exception_handler(CacheUnavailable, _on_unavailable)
    app.add_exception_handler(OperationalError, _on_unavailable)
    app.add_exception_handler(SqlTimeoutError, _on_unavailable)  # connection pool exhausted
    app.add_exception_handler(DependencyUnavailable, _on_unavailable)
    app.add_exception_handler(Exception, _on_unexpected)
