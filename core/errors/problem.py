"""Problem details for HTTP APIs (RFC 9457).

Every API that is not an OAuth endpoint answers errors as ``application/problem+json``
(RFC 9457 §3). Domain code raises :class:`ProblemError`; the handlers in
:mod:`core.errors.handlers` render it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class Problem:
    """The members of RFC 9457 §3.1, plus extension members (§3.2)."""

    status: int
    title: str
    type: str = "about:blank"
    detail: str | None = None
    instance: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail is not None:
            body["detail"] = self.detail
        if self.instance is not None:
            body["instance"] = self.instance
        for name, value in self.extensions.items():
            body.setdefault(name, value)
        return body


def problem_type(slug: str) -> str:
    """The type URI of one of govtrust's own problem types (a relative URI, §3.1.1)."""
    return f"/problems/{slug}"


def for_status(status: int, detail: str | None = None) -> Problem:
    """A problem with no more semantics than its HTTP status (``about:blank``, §4.2.1)."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return Problem(status=status, title=title, detail=detail)


class ProblemError(Exception):
    """Raised by domain and router code to answer with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(title if detail is None else f"{title}: {detail}")
        self.problem = Problem(
            status=status,
            title=title,
            type=problem_type(slug),
            detail=detail,
            extensions=extensions,
        )


class DependencyUnavailable(RuntimeError):
    """Something the service relies on (cache, database, key backend) cannot serve now.

    Answered with 503 and ``Retry-After``; packages subclass it for their own backends.
    """
