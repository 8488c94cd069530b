"""Validation reports for sealed PDFs: ETSI EN 319 102-1 §5.1.3 indications for every
signature and document timestamp (ISO 32000-2 §12.8) of a document.

:func:`validate_document` is the entry point; :mod:`seal.validation.report` holds the
frozen result types, :mod:`seal.validation.indications` the mapping to indications.
"""

from seal.validation.report import (
    NO_SIGNATURE,
    DocumentReport,
    SealInfo,
    SignatureReport,
)
from seal.validation.validate import (
    EncryptedPdf,
    InvalidPdf,
    async_validate_document,
    validate_document,
)

__all__ = [
    "NO_SIGNATURE",
    "DocumentReport",
    "EncryptedPdf",
    "InvalidPdf",
    "SealInfo",
    "SignatureReport",
    "async_validate_document",
    "validate_document",
]
