"""What can go wrong when a seal is put on a PDF, as problem documents (RFC 9457).

Every error the stamping engine lets out is one of these: the caller gets a clear title and
detail, never a parser's stack trace. A failure of the key backend is not wrapped here: it
stays a :class:`core.errors.problem.DependencyUnavailable` (503).
"""

from __future__ import annotations

from core.errors.problem import ProblemError


class StampingError(ProblemError):
    """Base of the stamping engine's errors (HTTP 422 unless a subclass says otherwise)."""

    status = 422
    slug = "stamping-failed"
    title = "The PDF could not be sealed"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(self.status, self.slug, self.title, detail)


class InvalidPdf(StampingError):
    """The input is not a PDF that can be parsed (ISO 32000-1 §7.5 file structure)."""

    status = 400
    slug = "invalid-pdf"
    title = "The document is not a readable PDF"


class EncryptedPdf(StampingError):
    """The input is encrypted (ISO 32000-1 §7.6): sealing needs the plain document."""

    status = 400
    slug = "encrypted-pdf"
    title = "The document is encrypted"


class InvalidSealImage(StampingError):
    """The seal image is not a PNG that Pillow can read."""

    status = 400
    slug = "invalid-seal-image"
    title = "The seal image is not a readable PNG"


class PlacementError(StampingError):
    """The requested place is not on the document (page out of range, off the page...)."""

    slug = "seal-placement"
    title = "The seal cannot be placed there"


class AnchorNotFound(PlacementError):
    """The anchor text (e.g. "（盖章）") does not occur in the document's text."""

    slug = "seal-anchor-not-found"
    title = "The anchor text was not found in the document"
