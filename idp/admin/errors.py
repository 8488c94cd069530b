"""Problems of the admin and self-service APIs (RFC 9457).

A :class:`NotFound` never says whether the object exists and belongs to someone else or
does not exist at all: both are 404 with the same text (no IDOR oracle).
"""

from __future__ import annotations

from core.errors.problem import ProblemError


class NotFound(ProblemError):
    """No such object, or not one of the caller's."""

    def __init__(self, kind: str) -> None:
        super().__init__(404, "not-found", "Not found", f"no such {kind}")
        self.kind = kind


class Conflict(ProblemError):
    """The object is not in a state that allows this."""

    def __init__(self, detail: str) -> None:
        super().__init__(409, "conflict", "Conflict", detail)


class InvalidRequest(ProblemError):
    """The request is well-formed but its values are refused (the values are not echoed)."""

    def __init__(self, detail: str) -> None:
        super().__init__(422, "invalid-request", "Invalid request", detail)
