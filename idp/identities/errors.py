"""Errors of the identity domain.

Identifiers are personal data ("信息安全等级保护 ... 保护公民个人隐私"), so no error here
carries an ID number, a phone number or a name: messages are fixed texts, and the only
values attached are opaque ids (uuid hex) chosen by this service. Each error is a
:class:`~core.errors.problem.ProblemError`, so an HTTP router answers it as an RFC 9457
problem document without further mapping.
"""

from __future__ import annotations

from core.errors.problem import ProblemError


class IdentityError(ProblemError):
    """Base of the identity domain's errors."""


class IdentityExists(IdentityError):
    """A person with this ID number, or an organisation with this USCC, is already registered."""

    def __init__(self, kind: str) -> None:
        super().__init__(409, "identity-exists", "Already registered", f"this {kind} exists")
        self.kind = kind


class AgentExists(IdentityError):
    """The person already holds a valid agent authority for the organisation: withdraw it
    before granting another, so that one withdrawal ends it."""

    def __init__(self) -> None:
        super().__init__(
            409, "agent-exists", "Already an agent", "this person is already a valid agent"
        )


class IdentityNotFound(IdentityError):
    """No person, organisation or representation with that (opaque) id."""

    def __init__(self, kind: str) -> None:
        super().__init__(404, "identity-not-found", "Not found", f"no such {kind}")
        self.kind = kind


class NotAllowed(IdentityError):
    """The acting person may not do this (e.g. only a legal representative grants agents)."""

    def __init__(self, reason: str) -> None:
        super().__init__(403, "identity-not-allowed", "Not allowed", reason)
        self.reason = reason


class InvalidPhone(IdentityError, ValueError):
    """Not a mainland China mobile number (11 digits, ``1[3-9]`` then 9 digits)."""

    def __init__(self) -> None:
        super().__init__(
            422, "invalid-phone", "Invalid phone number", "expected a mainland mobile number"
        )


class InvalidName(IdentityError, ValueError):
    """A person's or organisation's name is empty, too long or holds control characters."""

    def __init__(self) -> None:
        super().__init__(422, "invalid-name", "Invalid name", "empty, too long or not printable")


class InvalidGrant(IdentityError, ValueError):
    """An agent grant is malformed: bad scopes, or it would end before it starts."""

    def __init__(self, reason: str) -> None:
        super().__init__(422, "invalid-grant", "Invalid grant", reason)
        self.reason = reason
