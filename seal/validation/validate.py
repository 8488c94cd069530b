"""Validate every signature and document timestamp of a PDF and report ETSI indications.

Signatures are PDF signature dictionaries (ISO 32000-2 §12.8.1) and document timestamps
(§12.8.5); each gets a :class:`~seal.validation.report.SignatureReport` whose indication
follows ETSI EN 319 102-1 §5.1.3 (see :mod:`seal.validation.indications` for the mapping).

The work is pyHanko's: ``async_validate_pdf_signature`` / ``async_validate_pdf_timestamp``
check the hash, the signature value, the /ByteRange coverage, the incremental updates
after signing (difference analysis against DocMDP, §12.8.2.2) and the certificate chain at
the validation time, reporting chain problems as ETSI sub-indications. On top of that:

- proof of existence: a valid signature timestamp, or a valid document timestamp added
  later, proves the signature existed at its time (ETSI's best-signature-time). When the
  certificate is revoked or expired now, or the revocation data is too old for now
  (TRY_LATER), the chain is validated again at that time with the same revocation data,
  taken as retroactively valid (a CRL or OCSP response issued after the timestamp still
  tells whether the certificate was revoked before it). This is what keeps documents
  sealed before a revocation valid while later ones are not;
- revinfo: the caller's CRLs and OCSP responses, the document's DSS (§12.8.4.3), and what
  pyHanko fetches when ``allow_fetching`` is set. Revocation is checked as pyHanko's
  ``soft-fail`` mode does: for certificates that name a CRL distribution point or OCSP
  responder, and without failing when no data can be had. ``revocation`` in the report
  then says which case applied: ``revoked`` (with ``revoked_at``), ``good`` (the chain
  validated and revocation data for the signer's certificate was at hand), ``not-checked``
  (the chain validated without any), ``unknown`` (the chain did not validate, so its
  revocation state was not established);
- key usage: seal certificates must carry nonRepudiation (pyHanko's default); one without
  it is INDETERMINATE/CHAIN_CONSTRAINTS_FAILURE;
- only the caller's trust roots are trusted, never the operating system's.

Bad input never raises anything but :class:`InvalidPdf` (not a readable PDF: callers
answer 422) or its subclass :class:`EncryptedPdf`. An unreadable signature inside a
readable PDF becomes a TOTAL-FAILED/FORMAT_FAILURE report of its own. A PDF without any
signature gives a report with no signatures, INDETERMINATE/NO_SIGNATURE overall.
PDFs are read in pyHanko's strict mode.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from io import BytesIO

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko_certvalidator import ValidationContext

from seal.validation import statuses
from seal.validation.certificates import (
    CertificateInput,
    CrlInput,
    OcspInput,
    has_revinfo_for,
    seal_info,
    serial,
    to_asn1_certificate,
    to_asn1_crl,
    to_asn1_ocsp,
    utc,
)
from seal.validation.indications import (
    Evidence,
    Finding,
    PastValidation,
    decide,
    past_validation_time,
)
from seal.validation.report import (
    DocumentReport,
    PadesLevel,
    SignatureKind,
    SignatureReport,
)

__all__ = [
    "CertificateInput",
    "CrlInput",
    "EncryptedPdf",
    "InvalidPdf",
    "OcspInput",
    "async_validate_document",
    "validate_document",
]

logger = logging.getLogger(__name__)

_PADES_SUBFILTER = "/ETSI.CAdES.detached"


class InvalidPdf(ValueError):
    """The bytes are not a PDF that can be read (callers answer 422)."""


class EncryptedPdf(InvalidPdf):
    """The PDF is encrypted (ISO 32000-2 §7.6); its signatures are not validated."""


def validate_document(
    pdf: bytes,
    *,
    trust_roots: Sequence[CertificateInput],
    validation_time: datetime | None = None,
    allow_fetching: bool = False,
    crls: Sequence[CrlInput] = (),
    ocsps: Sequence[OcspInput] = (),
) -> DocumentReport:
    """Validate every signature and document timestamp of ``pdf`` (see the module docstring).

    ``validation_time`` (naive means UTC) validates as of that moment, with the revocation
    data given; None validates now. Sync wrapper around :func:`async_validate_document`:
    do not call it from a running event loop.
    """
    return asyncio.run(
        async_validate_document(
            pdf,
            trust_roots=trust_roots,
            validation_time=validation_time,
            allow_fetching=allow_fetching,
            crls=crls,
            ocsps=ocsps,
        )
    )


async def async_validate_document(
    pdf: bytes,
    *,
    trust_roots: Sequence[CertificateInput],
    validation_time: datetime | None = None,
    allow_fetching: bool = False,
    crls: Sequence[CrlInput] = (),
    ocsps: Sequence[OcspInput] = (),
) -> DocumentReport:
    """:func:`validate_document`, for callers already in an event loop."""
    when = datetime.now(UTC) if validation_time is None else utc(validation_time)
    reader = _open(pdf)
    dss = _read_dss(reader)
    trust = _Trust(
        roots=tuple(to_asn1_certificate(root) for root in trust_roots),
        crls=tuple(to_asn1_crl(item) for item in crls) + dss.crls,
        ocsps=tuple(to_asn1_ocsp(item) for item in ocsps) + dss.ocsps,
        certs=dss.certs,
        moment=None if validation_time is None else when,
        allow_fetching=allow_fetching,
    )
    found = _collect(reader)

    reports: dict[int, SignatureReport] = {}
    timestamps: list[_DocumentTimestamp] = []
    for index, item in enumerate(found):
        if isinstance(item, EmbeddedPdfSignature) and item.sig_object_type == "/DocTimeStamp":
            reports[index] = await _validate_document_timestamp(item, trust)
            timestamps.append(_DocumentTimestamp.of(item, reports[index]))
    for index, item in enumerate(found):
        if index in reports:
            continue
        if isinstance(item, EmbeddedPdfSignature):
            reports[index] = await _validate_signature(item, trust, tuple(timestamps), dss)
        else:
            reports[index] = _unreadable(item, "signature", statuses.FORMAT_FAILURE, None)
    return DocumentReport.of(
        tuple(reports[index] for index in range(len(found))),
        document_sha256=hashlib.sha256(pdf).hexdigest(),
        validation_time=when,
    )


# -- reading -------------------------------------------------------------------------------


def _open(pdf: bytes) -> PdfFileReader:
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=True)
    except Exception as e:
        raise InvalidPdf("not a readable PDF") from e
    if reader.encrypted:
        raise EncryptedPdf("the PDF is encrypted")
    try:
        reader.root  # noqa: B018 (reads the document catalog)
    except Exception as e:
        raise InvalidPdf("the PDF has no readable document catalog") from e
    return reader


def _collect(reader: PdfFileReader) -> list[EmbeddedPdfSignature | str]:
    """Filled signature fields in signing order; unreadable ones (as their names) last."""
    try:
        fields = list(enumerate_sig_fields(reader, filled_status=True))
    except Exception as e:
        raise InvalidPdf("the PDF's form fields cannot be read") from e
    readable: list[EmbeddedPdfSignature] = []
    unreadable: list[str] = []
    for name, _value, field in fields:
        try:
            readable.append(EmbeddedPdfSignature(reader, field, name))
        except Exception:
            logger.warning("unreadable signature in field %r", name, exc_info=True)
            unreadable.append(str(name))
    readable.sort(key=lambda signature: int(signature.signed_revision))
    return [*readable, *unreadable]


@dataclass(frozen=True)
class _Dss:
    """Validation data from the Document Security Store (ISO 32000-2 §12.8.4.3)."""

    certs: tuple[asn1_x509.Certificate, ...] = ()
    crls: tuple[asn1_crl.CertificateList, ...] = ()
    ocsps: tuple[asn1_ocsp.OCSPResponse, ...] = ()


def _read_dss(reader: PdfFileReader) -> _Dss:
    try:
        dss = DocumentSecurityStore.read_dss(reader)
        return _Dss(
            certs=tuple(dss.load_certs()),
            crls=tuple(
                asn1_crl.CertificateList.load(ref.get_object().read_data(DecodePurpose.CRL))
                for ref in dss.crls
            ),
            ocsps=tuple(
                asn1_ocsp.OCSPResponse.load(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE))
                for ref in dss.ocsps
            ),
        )
    except NoDSSFoundError:
        return _Dss()
    except Exception:
        logger.warning("unreadable DSS, ignored", exc_info=True)
        return _Dss()


# -- trust ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Trust:
    roots: tuple[asn1_x509.Certificate, ...]
    crls: tuple[asn1_crl.CertificateList, ...]
    ocsps: tuple[asn1_ocsp.OCSPResponse, ...]
    certs: tuple[asn1_x509.Certificate, ...]
    moment: datetime | None
    allow_fetching: bool

    def context(self, moment: datetime | None = None) -> ValidationContext:
        """A fresh context at the validation time, or at ``moment`` (a POE) in the past.

        In the past, revocation data issued later counts (``retroactive_revinfo``).
        """
        return ValidationContext(
            trust_roots=list(self.roots),
            other_certs=list(self.certs),
            moment=moment or self.moment,
            allow_fetching=self.allow_fetching,
            crls=list(self.crls),
            ocsps=list(self.ocsps),
            revocation_mode="soft-fail",
            retroactive_revinfo=moment is not None,
        )


# -- document timestamps -------------------------------------------------------------------


@dataclass(frozen=True)
class _DocumentTimestamp:
    """A document timestamp: its revision and, when it validated, the time it proves."""

    revision: int
    proven: datetime | None

    @classmethod
    def of(cls, signature: EmbeddedPdfSignature, report: SignatureReport) -> _DocumentTimestamp:
        proven = report.proven_signing_time if report.indication == "TOTAL-PASSED" else None
        return cls(int(signature.signed_revision), proven)


async def _validate_document_timestamp(
    signature: EmbeddedPdfSignature, trust: _Trust
) -> SignatureReport:
    context = trust.context()
    try:
        status = await async_validate_pdf_timestamp(signature, validation_context=context)
    except Exception as e:
        return _unreadable(
            signature.field_name, "document-timestamp", statuses.failure_of(e), _cert_of(signature)
        )
    finally:
        await _close(context)
    level = status.modification_level
    evidence = Evidence(
        intact=status.intact,
        valid=status.valid,
        coverage_ok=statuses.coverage_ok(status),
        docmdp_ok=level is not None and level != ModificationLevel.OTHER,
        trust_problem=statuses.trust_finding(status),
    )
    finding = decide(evidence)
    revocation, revoked_at = statuses.revocation(
        status, chain_ok=evidence.trust_problem is None, crls=context.crls, ocsps=context.ocsps
    )
    time = utc(status.timestamp)
    return SignatureReport(
        field_name=str(signature.field_name),
        kind="document-timestamp",
        indication="TOTAL-PASSED" if finding is None else finding.indication,
        sub_indication=None if finding is None else finding.sub_indication,
        seal=seal_info(status.signing_cert),
        signer_certificate_serial=serial(status.signing_cert),
        claimed_signing_time=time,
        proven_signing_time=time if finding is None else None,
        timestamp_valid=bool(status.intact and status.valid and status.trusted),
        integrity=bool(status.intact and status.valid),
        chain_to_trust_anchor=status.validation_path is not None,
        revocation=revocation,
        revoked_at=revoked_at,
        coverage=statuses.coverage(status),
        modified_after_signing=statuses.modified(level),
        modifications=statuses.describe_modifications(level, docmdp_ok=evidence.docmdp_ok),
        pades_level=None,
    )


# -- signatures ----------------------------------------------------------------------------


async def _validate_signature(
    signature: EmbeddedPdfSignature,
    trust: _Trust,
    timestamps: tuple[_DocumentTimestamp, ...],
    dss: _Dss,
) -> SignatureReport:
    context = trust.context()
    try:
        status = await async_validate_pdf_signature(signature, signer_validation_context=context)
    except Exception as e:
        return _unreadable(
            signature.field_name, "signature", statuses.failure_of(e), _cert_of(signature)
        )
    finally:
        await _close(context)
    cert = status.signing_cert
    revision = int(signature.signed_revision)

    signature_timestamp = status.timestamp_validity
    timestamp_valid = (
        None
        if signature_timestamp is None
        else bool(
            signature_timestamp.intact and signature_timestamp.valid and signature_timestamp.trusted
        )
    )
    proofs = [ts.proven for ts in timestamps if ts.revision > revision and ts.proven]
    if signature_timestamp is not None and timestamp_valid:
        proofs.append(utc(signature_timestamp.timestamp))
    details = status.revocation_details
    claimed = status.signer_reported_dt
    evidence = Evidence(
        intact=status.intact,
        valid=status.valid,
        coverage_ok=statuses.coverage_ok(status),
        docmdp_ok=status.docmdp_ok,
        trust_problem=statuses.trust_finding(status),
        revoked_at=None if details is None else utc(details.revocation_date),
        certificate_not_before=utc(cert.not_valid_before),
        proof_of_existence=min(proofs, default=None),
        claimed_signing_time=None if claimed is None else utc(claimed),
    )
    control_time = past_validation_time(evidence)
    if control_time is not None:
        evidence = replace(
            evidence, past_validation=await _validate_in_past(signature, trust, control_time)
        )
    finding = decide(evidence)
    past = evidence.past_validation
    chain_ok = evidence.trust_problem is None or (past is not None and past.trust_problem is None)
    revocation, revoked_at = statuses.revocation(
        status, chain_ok=chain_ok, crls=context.crls, ocsps=context.ocsps
    )
    level = status.modification_level
    has_time = signature_timestamp is not None or any(ts.revision > revision for ts in timestamps)
    return SignatureReport(
        field_name=str(signature.field_name),
        kind="signature",
        indication="TOTAL-PASSED" if finding is None else finding.indication,
        sub_indication=None if finding is None else finding.sub_indication,
        seal=seal_info(cert),
        signer_certificate_serial=serial(cert),
        claimed_signing_time=evidence.claimed_signing_time,
        proven_signing_time=evidence.proof_of_existence,
        timestamp_valid=timestamp_valid,
        integrity=bool(status.intact and status.valid),
        chain_to_trust_anchor=status.validation_path is not None or chain_ok,
        revocation=revocation,
        revoked_at=revoked_at,
        coverage=statuses.coverage(status),
        modified_after_signing=statuses.modified(level),
        modifications=statuses.describe_modifications(level, docmdp_ok=status.docmdp_ok),
        pades_level=_pades_level(signature, has_time, timestamps, dss, cert),
    )


async def _validate_in_past(
    signature: EmbeddedPdfSignature, trust: _Trust, control_time: datetime
) -> PastValidation:
    """The chain validated again at ``control_time`` (ETSI EN 319 102-1 §5.6.2.4)."""
    context = trust.context(control_time)
    try:
        status = await async_validate_pdf_signature(
            signature, signer_validation_context=context, skip_diff=True
        )
        return PastValidation(control_time, statuses.trust_finding(status))
    except Exception:
        logger.warning("past validation failed", exc_info=True)
        return PastValidation(control_time, Finding("INDETERMINATE", "GENERIC"))
    finally:
        await _close(context)


def _pades_level(
    signature: EmbeddedPdfSignature,
    has_time: bool,
    timestamps: tuple[_DocumentTimestamp, ...],
    dss: _Dss,
    cert: asn1_x509.Certificate,
) -> PadesLevel | None:
    """The PAdES baseline level of the signature's structure (ETSI EN 319 142-1 §6.3).

    B-B: a PAdES (``ETSI.CAdES.detached``) signature; B-T: with a signature timestamp or a
    later document timestamp; B-LT: the DSS also holds revocation data for the signer's
    certificate; B-LTA: a later document timestamp covers a revision holding the DSS.
    """
    if str(signature.sig_object.get("/SubFilter")) != _PADES_SUBFILTER:
        return None
    if not has_time:
        return "B-B"
    if not has_revinfo_for(cert, dss.crls, dss.ocsps):
        return "B-T"
    revision = int(signature.signed_revision)
    for ts in timestamps:
        if ts.revision > revision and _has_dss(signature.reader, ts.revision):
            return "B-LTA"
    return "B-LT"


def _has_dss(reader: PdfFileReader, revision: int) -> bool:
    try:
        return "/DSS" in reader.get_historical_resolver(revision).root
    except Exception:
        return False


# -- report pieces -------------------------------------------------------------------------


def _unreadable(
    field_name: object, kind: SignatureKind, finding: Finding, cert: asn1_x509.Certificate | None
) -> SignatureReport:
    return SignatureReport(
        field_name=str(field_name),
        kind=kind,
        indication=finding.indication,
        sub_indication=finding.sub_indication,
        seal=None if cert is None else seal_info(cert),
        signer_certificate_serial=None if cert is None else serial(cert),
        claimed_signing_time=None,
        proven_signing_time=None,
        timestamp_valid=None,
        integrity=False,
        chain_to_trust_anchor=False,
        revocation="unknown",
        revoked_at=None,
        coverage="partial",
        modified_after_signing=False,
        modifications="UNKNOWN: not analysed, the signature could not be read",
        pades_level=None,
    )


def _cert_of(signature: EmbeddedPdfSignature) -> asn1_x509.Certificate | None:
    try:
        return signature.signer_cert
    except Exception:
        return None


async def _close(context: ValidationContext) -> None:
    """Release what the context owns (its HTTP fetchers when ``allow_fetching``)."""
    await context.aclose()  # type: ignore[no-untyped-call]
