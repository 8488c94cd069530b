"""Reading pyHanko's validation statuses (``pyhanko.sign.validation.status``) for the report.

pyHanko reports certificate problems as ETSI EN 319 102-1 sub-indications
(``trust_problem_indic``, an ``AdESSubIndic`` whose ``status`` is the §5.1.3 main
indication); coverage as a ``SignatureCoverageLevel`` of the /ByteRange (ISO 32000-2
§12.8.1); later incremental updates as a ``ModificationLevel`` from its difference analysis,
judged against DocMDP (ISO 32000-2 §12.8.2.2) in ``docmdp_ok``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from pyhanko.sign.ades.report import AdESStatus, AdESSubIndic
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.status import (
    ModificationInfo,
    SignatureCoverageLevel,
    SignatureStatus,
)

from seal.validation.certificates import utc, was_revocation_checked
from seal.validation.indications import Finding
from seal.validation.report import Coverage, Indication, Revocation

__all__ = [
    "FORMAT_FAILURE",
    "coverage",
    "coverage_ok",
    "describe_modifications",
    "failure_of",
    "finding",
    "modified",
    "revocation",
    "trust_finding",
]

logger = logging.getLogger(__name__)

FORMAT_FAILURE = Finding("TOTAL-FAILED", "FORMAT_FAILURE")

_INDICATIONS: dict[AdESStatus, Indication] = {
    AdESStatus.PASSED: "TOTAL-PASSED",
    AdESStatus.INDETERMINATE: "INDETERMINATE",
    AdESStatus.FAILED: "TOTAL-FAILED",
}
_COVERAGE: dict[SignatureCoverageLevel, Coverage] = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire-document",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire-revision",
}
_MODIFICATIONS: dict[ModificationLevel, str] = {
    ModificationLevel.NONE: "no change after signing",
    ModificationLevel.LTA_UPDATES: (
        "only validation data (DSS) and document timestamps added, which PAdES does not "
        "count as modification"
    ),
    ModificationLevel.FORM_FILLING: "form filling (field values, further signatures)",
    ModificationLevel.ANNOTATIONS: "annotations (comments) added or changed",
    ModificationLevel.OTHER: (
        "other changes (page content, annotations or document structure) beyond form "
        "filling and further signatures"
    ),
}


def finding(sub_indication: AdESSubIndic) -> Finding:
    """pyHanko's sub-indication with its §5.1.3 main indication."""
    return Finding(_INDICATIONS[sub_indication.status], str(sub_indication.standard_name))


def trust_finding(status: SignatureStatus) -> Finding | None:
    """The certificate validation's finding; None for a trusted path."""
    problem = status.trust_problem_indic
    if problem is not None:
        return finding(problem)
    if status.validation_path is None:
        return Finding("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    return None


def failure_of(error: Exception) -> Finding:
    """A pyHanko structural error's own sub-indication, FORMAT_FAILURE otherwise."""
    logger.warning("signature could not be validated", exc_info=error)
    if isinstance(error, SignatureValidationError):
        sub = error.ades_subindication
        if sub is not None and sub.standard_name != "GENERIC":
            return finding(sub)
    return FORMAT_FAILURE


def revocation(
    status: SignatureStatus,
    *,
    chain_ok: bool,
    crls: Iterable[asn1_crl.CertificateList],
    ocsps: Iterable[asn1_ocsp.OCSPResponse],
) -> tuple[Revocation, datetime | None]:
    """The report's ``revocation`` and ``revoked_at`` (see :mod:`seal.validation.validate`)."""
    details = status.revocation_details
    if details is not None:
        return "revoked", utc(details.revocation_date)
    if not chain_ok:
        return "unknown", None
    checked = was_revocation_checked(status.signing_cert, crls, ocsps)
    return ("good" if checked else "not-checked"), None


def coverage(status: ModificationInfo) -> Coverage:
    level = status.coverage
    return "partial" if level is None else _COVERAGE.get(level, "partial")


def coverage_ok(status: ModificationInfo) -> bool:
    """The /ByteRange covers at least its whole revision (ISO 32000-2 §12.8.1)."""
    return status.coverage in _COVERAGE


def modified(level: ModificationLevel | None) -> bool:
    """Changed after signing; DSS updates and document timestamps do not count."""
    return level not in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)


def describe_modifications(level: ModificationLevel | None, *, docmdp_ok: bool | None) -> str:
    """pyHanko's level name and what it means, e.g. ``FORM_FILLING: form filling (...)``."""
    if level is None:
        return "UNKNOWN: not analysed"
    text = f"{level.name}: {_MODIFICATIONS[level]}"
    if docmdp_ok is False and level != ModificationLevel.OTHER:
        text += "; more than the document's modification policy (DocMDP) allows"
    return text
