"""Problems (RFC 9457) the licence registry answers with. None of them echoes a holder code."""

from __future__ import annotations

from core.errors.problem import ProblemError


class LicenceNotFound(ProblemError):
    def __init__(self) -> None:
        super().__init__(404, "licence-not-found", "No such licence")


class LicenceTypeNotFound(ProblemError):
    def __init__(self) -> None:
        super().__init__(404, "licence-type-not-found", "No such licence type")


class LicenceTypeExists(ProblemError):
    def __init__(self) -> None:
        super().__init__(409, "licence-type-exists", "A licence type with this code exists")


class PrintNotFound(ProblemError):
    def __init__(self) -> None:
        super().__init__(404, "licence-print-not-found", "No such licence print")


class PrintStateConflict(ProblemError):
    """The print (or the licence version to print) is not in a state that allows this."""

    def __init__(self, detail: str) -> None:
        super().__init__(409, "licence-print-conflict", "Not possible for this print", detail)


class LicenceNotInForce(ProblemError):
    """Only a licence in force is sealed anew or shown (a dynamic QR): a document sealed now
    for a revoked, suspended, superseded or expired version would validate as a sealed
    document although the licence is not in force."""

    def __init__(self, state: str) -> None:
        super().__init__(409, "licence-not-in-force", "The licence is not in force", state)


class SealOfAnotherAuthority(ProblemError):
    """The licence type names a seal of another organisation than the licence's issuing
    authority, whose seal alone may seal its licences."""

    def __init__(self) -> None:
        super().__init__(
            409,
            "seal-of-another-authority",
            "The licence type's seal is not the issuing authority's",
        )


class AmbiguousLicenceNumber(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            409,
            "ambiguous-licence-number",
            "Several licences have this number",
            "name the licence type and issuing authority too",
        )


class InvalidLicenceInput(ProblemError):
    """A licence request that cannot be carried out as given (422); ``detail`` says why."""

    def __init__(self, slug: str, title: str, detail: str | None = None) -> None:
        super().__init__(422, slug, title, detail)


def invalid_holder_code(code_type: str | None) -> InvalidLicenceInput:
    """The holder code is not a valid code of ``code_type`` (None: of either type)."""
    labels = {"111": "a resident ID number (111)", "001": "a USCC (001)"}
    expected = labels.get(code_type or "", "a resident ID number or a USCC")
    return InvalidLicenceInput(
        "invalid-holder-code", "The holder code is not valid", f"expected {expected}"
    )
