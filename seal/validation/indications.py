"""From validation evidence to an ETSI EN 319 102-1 status indication (§5.1.3). Pure.

:func:`decide` runs an ordered list of checks; the first that applies gives the indication:

1. format: the signature could not be read as a PDF signature (ISO 32000-2 §12.8.1,
   §12.8.3.4) -> what the reader reported, TOTAL-FAILED/FORMAT_FAILURE by default;
2. hash: the signed byte ranges do not hash to the signed digest (§5.2.7)
   -> TOTAL-FAILED/HASH_FAILURE;
3. signature value: it does not verify with the certificate's key (§5.2.7)
   -> TOTAL-FAILED/SIG_CRYPTO_FAILURE;
4. coverage and modifications: the /ByteRange does not cover its whole revision
   (ISO 32000-2 §12.8.1), or later incremental updates go beyond what the document's
   modification policy allows (DocMDP, ISO 32000-2 §12.8.2.2)
   -> TOTAL-FAILED/FORMAT_FAILURE;
5. certificate (X.509 validation at the validation time, §5.2.6): no problem
   -> TOTAL-PASSED; otherwise, with proof of existence (POE) from a timestamp:

   - revoked, or expired (OUT_OF_BOUNDS_NO_POE), and a POE before the revocation or
     expiry: the chain is validated again at the POE time (the past signature validation
     of §5.6.2.4); if it holds there -> TOTAL-PASSED: the seal was good when the document
     was stamped, a later revocation does not undo that;
   - revocation data too old for the validation time (TRY_LATER) and a POE: likewise
     validated again at the POE time, which is how a B-LT/B-LTA signature's embedded
     revocation data keeps serving after it went stale (pyHanko's AdES LTA process does
     the same);
   - revoked with no POE before the revocation: INDETERMINATE/REVOKED_NO_POE (or
     REVOKED_CA_NO_POE) when the signer's own claimed signing time is before the
     revocation, since nothing proves it either way (Table 5); TOTAL-FAILED/REVOKED
     otherwise. ETSI reserves REVOKED for proof that the signature was made after the
     revocation; govtrust also takes the signer's own claimed time (a statement against
     its interest) and the absence of any claimed time as enough;
   - expired with a POE before the certificate's notBefore -> TOTAL-FAILED/NOT_YET_VALID;
   - anything else keeps the sub-indication of the certificate validation
     (NO_CERTIFICATE_CHAIN_FOUND, CHAIN_CONSTRAINTS_FAILURE, OUT_OF_BOUNDS_NO_POE,
     TRY_LATER, ...) with its own indication, INDETERMINATE for all of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from seal.validation.report import Indication

__all__ = [
    "Evidence",
    "Finding",
    "PastValidation",
    "decide",
    "past_validation_time",
]

REVOKED_NO_POE = "REVOKED_NO_POE"
REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
TRY_LATER = "TRY_LATER"
_REVOKED = frozenset({REVOKED_NO_POE, REVOKED_CA_NO_POE})


@dataclass(frozen=True)
class Finding:
    """One ETSI EN 319 102-1 §5.1.3 indication with its sub-indication (Table 5 name)."""

    indication: Indication
    sub_indication: str


@dataclass(frozen=True)
class PastValidation:
    """The certificate validation repeated at ``control_time`` (a POE): None means it held."""

    control_time: datetime
    trust_problem: Finding | None


@dataclass(frozen=True)
class Evidence:
    """What the validation of one signature established.

    ``trust_problem`` is the certificate validation's finding at the validation time (None:
    a trusted path was found, revocation checks included). ``proof_of_existence`` is the
    earliest time a valid, trusted timestamp proves the signature existed.
    ``docmdp_ok`` None (compliance undetermined) counts as a failure.
    """

    intact: bool
    valid: bool
    coverage_ok: bool
    docmdp_ok: bool | None
    trust_problem: Finding | None
    format_problem: Finding | None = None
    revoked_at: datetime | None = None
    certificate_not_before: datetime | None = None
    proof_of_existence: datetime | None = None
    claimed_signing_time: datetime | None = None
    past_validation: PastValidation | None = None


def past_validation_time(evidence: Evidence) -> datetime | None:
    """When the chain should be validated again in the past, if at all (§5.6.2.4).

    Only for a revoked or expired certificate or stale revocation data, and only with a POE
    before the revocation (a later one proves nothing useful) or, when expired, within the
    validity period.
    """
    problem, poe = evidence.trust_problem, evidence.proof_of_existence
    if problem is None or poe is None:
        return None
    if problem.sub_indication in _REVOKED:
        if evidence.revoked_at is not None and poe < evidence.revoked_at:
            return poe
        return None
    if problem.sub_indication == OUT_OF_BOUNDS_NO_POE:
        not_before = evidence.certificate_not_before
        return poe if not_before is None or poe >= not_before else None
    if problem.sub_indication == TRY_LATER:
        return poe
    return None


def decide(evidence: Evidence) -> Finding | None:
    """The indication for ``evidence``; None means TOTAL-PASSED (see the module docstring)."""
    if evidence.format_problem is not None:
        return evidence.format_problem
    if not evidence.intact:
        return Finding("TOTAL-FAILED", "HASH_FAILURE")
    if not evidence.valid:
        return Finding("TOTAL-FAILED", "SIG_CRYPTO_FAILURE")
    if not evidence.coverage_ok or evidence.docmdp_ok is not True:
        return Finding("TOTAL-FAILED", "FORMAT_FAILURE")
    problem = evidence.trust_problem
    if problem is None:
        return None
    past = evidence.past_validation
    if past is not None:
        return past.trust_problem
    if problem.sub_indication in _REVOKED:
        claimed, revoked_at = evidence.claimed_signing_time, evidence.revoked_at
        if claimed is not None and revoked_at is not None and claimed < revoked_at:
            return problem
        return Finding("TOTAL-FAILED", "REVOKED")
    if problem.sub_indication == OUT_OF_BOUNDS_NO_POE:
        poe, not_before = evidence.proof_of_existence, evidence.certificate_not_before
        if poe is not None and not_before is not None and poe < not_before:
            return Finding("TOTAL-FAILED", "NOT_YET_VALID")
    return problem
