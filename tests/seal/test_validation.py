"""Validation reports of sealed PDFs: ETSI EN 319 102-1 §5.1.3 indications, ISO 32000-2 §12.8.

The PDFs are made here with pyHanko directly (not with ``seal.stamping``), sealed with
certificates built as govtrust builds seal certificates (``keys.certificates``) under a
throwaway PKI, timestamped by pyHanko's in-process ``DummyTimeStamper``. Every time is
frozen: the signer's clock (pyHanko's signing-session ``datetime``), the timestamps, the
CRLs and the validation time. Each success case has its failure case beside it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers import pdf_signer
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from keys.algorithms import KeyType, generate_private_key
from keys.certificates import Issuer, PkiUrls, build_certificate, subject_name
from keys.crl import RevokedCertificate, build_crl
from keys.purposes import PURPOSES
from seal.validation import (
    NO_SIGNATURE,
    DocumentReport,
    EncryptedPdf,
    InvalidPdf,
    SealInfo,
    SignatureReport,
    validate_document,
)
from seal.validation.indications import Evidence, Finding, decide
from tests.keys.testpki import TIME_STAMPING, Issued, MemorySigner, issue
from tests.keys.testpki import test_pki as make_pki

ORG, USCC, SEAL_NAME = (
    "福州示例科技有限公司",
    "91350100M000100Y43",
    "福州示例科技有限公司合同专用章",
)

SEAL_ISSUED = datetime(2026, 11, 30, tzinfo=UTC)
T_SIGN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
T_TIMESTAMP = T_SIGN + timedelta(minutes=1)
T_REVOKED = datetime(2026, 12, 5, tzinfo=UTC)
T_LATE_SIGN = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
T_VALIDATE = datetime(2026, 12, 10, tzinfo=UTC)

# What a signer may type into the signature dictionary: never in the report.
PERSONAL = {"name": "Zhang San 张三", "reason": "approved by 张三", "location": "Fuzhou 3rd floor"}


@dataclasses.dataclass(frozen=True)
class Pki:
    root: Issued
    ca: Issued
    tsa: Issued
    seal: Issued
    other_root: Issued
    other_ca: Issued
    other_seal: Issued


def _seal(
    ca: Issued,
    *,
    common_name: str = SEAL_NAME,
    lifetime: timedelta = timedelta(days=365),
    non_repudiation: bool = True,
) -> Issued:
    """A seal certificate as ``seal.registry`` has them made: C, O, serialNumber, CN."""
    signer = MemorySigner(generate_private_key(KeyType.EC_P256))
    purpose = dataclasses.replace(PURPOSES["seal"], non_repudiation=non_repudiation)
    certificate = build_certificate(
        subject=subject_name(ORG, common_name, {"SERIAL_NUMBER": USCC}),
        public_key=signer.public_key(),  # type: ignore[arg-type]
        purpose=purpose,
        issuer=Issuer("seal-ca", ca.certificate, ca.signer),
        now=SEAL_ISSUED,
        lifetime=lifetime,
        urls=PkiUrls("http://pki.govtrust.invalid"),
    )
    return Issued(certificate, signer)


@pytest.fixture(scope="module")
def pki() -> Pki:
    root, ca = make_pki()
    other_root, other_ca = make_pki()
    tsa = issue("Test TSA", ca, eku=[TIME_STAMPING], critical_eku=True, key_type=KeyType.RSA_2048)
    return Pki(root, ca, tsa, _seal(ca), other_root, other_ca, _seal(other_ca))


def _asn1_cert(issued: Issued) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(issued.certificate.public_bytes(Encoding.DER))


def _asn1_key(issued: Issued) -> asn1_keys.PrivateKeyInfo:
    der = issued.signer.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    return asn1_keys.PrivateKeyInfo.load(der)


def one_page_pdf() -> bytes:
    writer = PdfFileWriter()
    font = writer.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type1"),
                pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            }
        )
    )
    content = generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 720 Td (Licence 0042) Tj ET")
    resources = generic.DictionaryObject(
        {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})}
    )
    writer.insert_page(
        PageObject(writer.add_object(content), media_box=[0, 0, 595, 842], resources=resources)
    )
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


Sign = Callable[..., bytes]


@pytest.fixture
def sign(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Sign:
    """Seal a PDF as pyHanko does, on a frozen signer clock (``at``)."""

    def _sign(
        pdf: bytes,
        *,
        seal: Issued | None = None,
        ca: Issued | None = None,
        at: datetime = T_SIGN,
        timestamp_at: datetime | None = None,
        field: str = "Seal1",
        lta_crls: list[x509.CertificateRevocationList] | None = None,
    ) -> bytes:
        class SignerClock(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> SignerClock:
                return at  # type: ignore[return-value]

        seal, ca = seal or pki.seal, ca or pki.ca
        signer = signers.SimpleSigner(
            signing_cert=_asn1_cert(seal),
            signing_key=_asn1_key(seal),
            cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(ca)]),
        )
        timestamper = None
        if timestamp_at is not None:
            timestamper = DummyTimeStamper(
                tsa_cert=_asn1_cert(pki.tsa),
                tsa_key=_asn1_key(pki.tsa),
                certs_to_embed=SimpleCertificateStore.from_certs(
                    [_asn1_cert(pki.tsa), _asn1_cert(pki.ca)]
                ),
                fixed_dt=timestamp_at,
            )
        lta: dict[str, Any] = {}
        if lta_crls is not None:
            lta = {
                "embed_validation_info": True,
                "use_pades_lta": True,
                "validation_context": ValidationContext(
                    trust_roots=[_asn1_cert(pki.root)],
                    moment=at,
                    crls=[crl.public_bytes(Encoding.DER) for crl in lta_crls],
                ),
            }
        meta = signers.PdfSignatureMetadata(
            field_name=field,
            subfilter=fields.SigSeedSubFilter.PADES,
            name=PERSONAL["name"],
            reason=PERSONAL["reason"],
            location=PERSONAL["location"],
            contact_info="+86 591 0000 0000",
            **lta,
        )
        with monkeypatch.context() as patch:
            patch.setattr(pdf_signer, "datetime", SignerClock)
            out = signers.PdfSigner(meta, signer=signer, timestamper=timestamper).sign_pdf(
                IncrementalPdfFileWriter(BytesIO(pdf))
            )
        return bytes(out.getvalue())

    return _sign


def crl(pki: Pki, *revoked: Issued, at: datetime = T_REVOKED) -> x509.CertificateRevocationList:
    """The issuing CA's CRL an hour after ``at``, listing ``revoked`` as revoked at ``at``."""
    return build_crl(
        pki.ca.certificate,
        pki.ca.signer,
        [RevokedCertificate(item.certificate.serial_number, at) for item in revoked],
        number=1,
        this_update=at + timedelta(hours=1),
        next_update=at + timedelta(days=7),
    )


def validate(pdf: bytes, pki: Pki, **kwargs: Any) -> DocumentReport:
    kwargs.setdefault("trust_roots", [pki.root.certificate])
    kwargs.setdefault("validation_time", T_VALIDATE)
    return validate_document(pdf, **kwargs)


def only(report: DocumentReport) -> SignatureReport:
    assert len(report.signatures) == 1
    return report.signatures[0]


def indication(report: SignatureReport | DocumentReport) -> tuple[str, str | None]:
    if isinstance(report, DocumentReport):
        return report.overall, report.overall_sub_indication
    return report.indication, report.sub_indication


# -- good seals ----------------------------------------------------------------------------


def test_pades_b_b_passes_with_the_seal_read_from_the_certificate(pki: Pki, sign: Sign) -> None:
    report = validate(sign(one_page_pdf()), pki)
    signature = only(report)
    assert indication(report) == ("TOTAL-PASSED", None)
    assert indication(signature) == ("TOTAL-PASSED", None)
    assert signature.kind == "signature" and signature.field_name == "Seal1"
    assert signature.seal == SealInfo(organisation=ORG, uscc=USCC, seal_name=SEAL_NAME)
    assert signature.signer_certificate_serial == f"{pki.seal.certificate.serial_number:X}"
    assert signature.claimed_signing_time == T_SIGN
    assert signature.proven_signing_time is None and signature.timestamp_valid is None
    assert signature.integrity and signature.chain_to_trust_anchor
    assert (signature.revocation, signature.revoked_at) == ("not-checked", None)
    assert signature.coverage == "entire-document"
    assert not signature.modified_after_signing and signature.modifications.startswith("NONE")
    assert signature.pades_level == "B-B"


def test_revocation_is_good_when_a_crl_says_so(pki: Pki, sign: Sign) -> None:
    signature = only(validate(sign(one_page_pdf()), pki, crls=[crl(pki)]))
    assert indication(signature) == ("TOTAL-PASSED", None)
    assert signature.revocation == "good"


def test_pades_b_t_passes_with_the_time_the_timestamp_proves(pki: Pki, sign: Sign) -> None:
    signature = only(validate(sign(one_page_pdf(), timestamp_at=T_TIMESTAMP), pki))
    assert indication(signature) == ("TOTAL-PASSED", None)
    assert signature.pades_level == "B-T"
    assert signature.claimed_signing_time == T_SIGN
    assert signature.proven_signing_time == T_TIMESTAMP
    assert signature.timestamp_valid is True


def test_a_timestamp_from_an_untrusted_tsa_proves_nothing(pki: Pki, sign: Sign) -> None:
    pdf = sign(one_page_pdf(), timestamp_at=T_TIMESTAMP)
    # Trusting only another root, the TSA is as untrusted as the seal.
    signature = only(validate(pdf, pki, trust_roots=[pki.other_root.certificate]))
    assert signature.timestamp_valid is False and signature.proven_signing_time is None


# -- tampering and later changes -----------------------------------------------------------


def test_one_byte_changed_in_the_signed_range_is_a_hash_failure(pki: Pki, sign: Sign) -> None:
    pdf = bytearray(sign(one_page_pdf()))
    at = pdf.index(b"(Licence 0042)")
    pdf[at + len("(Licence 004")] = ord("3")
    signature = only(validate(bytes(pdf), pki))
    assert indication(signature) == ("TOTAL-FAILED", "HASH_FAILURE")
    assert not signature.integrity


def _with_annotation(pdf: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    page_ref, _resources = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    annotation = writer.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Annot"),
                pdf_name("/Subtype"): pdf_name("/Text"),
                pdf_name("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (72, 72, 96, 96)]
                ),
                pdf_name("/Contents"): generic.TextStringObject("void"),
            }
        )
    )
    page[pdf_name("/Annots")] = generic.ArrayObject([annotation])
    writer.update_container(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _with_page_content(pdf: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    page_ref, _resources = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    extra = writer.add_object(
        generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 600 Td (Licence 9999) Tj ET")
    )
    page[pdf_name("/Contents")] = generic.ArrayObject([page.raw_get("/Contents"), extra])
    writer.update_container(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("change", [_with_annotation, _with_page_content])
def test_changes_after_signing_fail_with_the_modifications_described(
    pki: Pki, sign: Sign, change: Callable[[bytes], bytes]
) -> None:
    signed = sign(one_page_pdf())
    before = only(validate(signed, pki))
    assert not before.modified_after_signing and indication(before) == ("TOTAL-PASSED", None)

    after = only(validate(change(signed), pki))
    assert indication(after) == ("TOTAL-FAILED", "FORMAT_FAILURE")
    assert after.modified_after_signing and after.integrity
    assert after.coverage == "entire-revision"
    assert after.modifications.startswith("OTHER: other changes")


def test_two_signatures_give_two_reports_and_the_first_sees_form_filling(
    pki: Pki, sign: Sign
) -> None:
    second = _seal(pki.ca, common_name="福州示例科技有限公司财务专用章")
    pdf = sign(sign(one_page_pdf()), seal=second, field="Seal2", at=T_SIGN + timedelta(hours=1))
    report = validate(pdf, pki)
    first, last = report.signatures
    assert indication(report) == ("TOTAL-PASSED", None)
    assert (first.field_name, last.field_name) == ("Seal1", "Seal2")
    assert last.seal is not None and last.seal.seal_name == "福州示例科技有限公司财务专用章"
    assert indication(first) == indication(last) == ("TOTAL-PASSED", None)
    assert first.coverage == "entire-revision" and first.modified_after_signing
    assert first.modifications.startswith("FORM_FILLING")
    assert last.coverage == "entire-document" and not last.modified_after_signing

    # Tampering with the page after both: both fail, the document too.
    tampered = validate(_with_page_content(pdf), pki)
    assert [indication(s) for s in tampered.signatures] == [("TOTAL-FAILED", "FORMAT_FAILURE")] * 2
    assert indication(tampered) == ("TOTAL-FAILED", "FORMAT_FAILURE")


# -- trust, revocation, expiry -------------------------------------------------------------


def test_an_untrusted_root_gives_no_certificate_chain_found(pki: Pki, sign: Sign) -> None:
    pdf = sign(one_page_pdf(), seal=pki.other_seal, ca=pki.other_ca)
    signature = only(validate(pdf, pki))
    assert indication(signature) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    assert not signature.chain_to_trust_anchor and signature.integrity
    assert signature.revocation == "unknown"


def test_a_seal_certificate_without_non_repudiation_is_refused(pki: Pki, sign: Sign) -> None:
    pdf = sign(one_page_pdf(), seal=_seal(pki.ca, non_repudiation=False))
    assert indication(only(validate(pdf, pki))) == ("INDETERMINATE", "CHAIN_CONSTRAINTS_FAILURE")


def test_b_b_sealed_after_the_revocation_is_revoked(pki: Pki, sign: Sign) -> None:
    pdf = sign(one_page_pdf(), at=T_LATE_SIGN)
    signature = only(validate(pdf, pki, crls=[crl(pki, pki.seal)]))
    assert indication(signature) == ("TOTAL-FAILED", "REVOKED")
    assert (signature.revocation, signature.revoked_at) == ("revoked", T_REVOKED)
    # Before the revocation (validated then, with the CRL of the day) it was good.
    earlier = crl(pki, at=T_SIGN)
    signature = only(validate(pdf, pki, crls=[earlier], validation_time=T_LATE_SIGN))
    assert indication(signature) == ("TOTAL-PASSED", None)


def test_b_b_claiming_a_time_before_the_revocation_cannot_prove_it(pki: Pki, sign: Sign) -> None:
    signature = only(validate(sign(one_page_pdf()), pki, crls=[crl(pki, pki.seal)]))
    assert indication(signature) == ("INDETERMINATE", "REVOKED_NO_POE")
    assert signature.revocation == "revoked"


def test_b_t_timestamped_before_the_revocation_still_passes(pki: Pki, sign: Sign) -> None:
    pdf = sign(one_page_pdf(), timestamp_at=T_TIMESTAMP)
    signature = only(validate(pdf, pki, crls=[crl(pki, pki.seal)]))
    assert indication(signature) == ("TOTAL-PASSED", None)
    assert (signature.revocation, signature.revoked_at) == ("revoked", T_REVOKED)
    assert signature.proven_signing_time == T_TIMESTAMP and signature.chain_to_trust_anchor


def test_b_t_timestamped_after_the_revocation_fails(pki: Pki, sign: Sign) -> None:
    pdf = sign(one_page_pdf(), at=T_LATE_SIGN, timestamp_at=T_LATE_SIGN + timedelta(minutes=1))
    signature = only(validate(pdf, pki, crls=[crl(pki, pki.seal)]))
    assert indication(signature) == ("TOTAL-FAILED", "REVOKED")


def test_an_expired_seal_needs_a_timestamp_from_its_lifetime(pki: Pki, sign: Sign) -> None:
    short = _seal(pki.ca, lifetime=timedelta(days=7))  # expires 2026-12-07
    untimed = only(validate(sign(one_page_pdf(), seal=short), pki))
    assert indication(untimed) == ("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE")
    timed = only(validate(sign(one_page_pdf(), seal=short, timestamp_at=T_TIMESTAMP), pki))
    assert indication(timed) == ("TOTAL-PASSED", None)


def test_pades_b_lta_passes_after_the_revocation_on_its_document_timestamp(
    pki: Pki, sign: Sign
) -> None:
    day_before = crl(pki, at=T_SIGN - timedelta(days=1))
    pdf = sign(one_page_pdf(), timestamp_at=T_TIMESTAMP, lta_crls=[day_before])
    report = validate(pdf, pki, validation_time=T_SIGN + timedelta(days=1))
    signature, timestamp = report.signatures
    assert indication(report) == ("TOTAL-PASSED", None)
    assert signature.pades_level == "B-LTA" and signature.revocation == "good"
    assert not signature.modified_after_signing
    assert signature.modifications.startswith("LTA_UPDATES")
    assert timestamp.kind == "document-timestamp" and timestamp.pades_level is None
    assert timestamp.seal is not None and timestamp.seal.seal_name == "Test TSA"
    assert timestamp.proven_signing_time == T_TIMESTAMP

    revoked = validate(pdf, pki, crls=[crl(pki, pki.seal)])
    assert indication(revoked.signatures[0]) == ("TOTAL-PASSED", None)
    assert revoked.signatures[0].revocation == "revoked"

    # Once the embedded CRL is stale, it still serves at the time the timestamps prove.
    stale = validate(pdf, pki)
    assert indication(stale) == ("TOTAL-PASSED", None)
    assert stale.signatures[0].revocation == "good"
    b_b = only(validate(sign(one_page_pdf()), pki, crls=[day_before]))
    assert indication(b_b) == ("INDETERMINATE", "TRY_LATER")


def test_an_unreadable_signature_is_a_format_failure_not_an_exception(pki: Pki, sign: Sign) -> None:
    pdf = sign(one_page_pdf())
    found = re.search(rb"/Contents\s*<([0-9a-fA-F]+)>", pdf)
    assert found is not None
    zeroed = pdf[: found.start(1)] + b"0" * len(found.group(1)) + pdf[found.end(1) :]
    signature = only(validate(zeroed, pki))
    assert indication(signature) == ("TOTAL-FAILED", "FORMAT_FAILURE")
    assert signature.seal is None and not signature.integrity


# -- inputs that are not sealed PDFs -------------------------------------------------------


@pytest.mark.parametrize(
    "data", [b"", b"garbage, not a PDF", b"%PDF-1.7\n1 0 obj <<", one_page_pdf()[:200]]
)
def test_unreadable_input_is_an_invalid_pdf(pki: Pki, data: bytes) -> None:
    with pytest.raises(InvalidPdf):
        validate(data, pki)


def test_an_encrypted_pdf_is_refused(pki: Pki, sign: Sign, tmp_path: Path) -> None:
    plain, locked = tmp_path / "plain.pdf", tmp_path / "locked.pdf"
    plain.write_bytes(sign(one_page_pdf()))
    subprocess.run(
        ["qpdf", "--encrypt", "u", "o", "256", "--", str(plain), str(locked)], check=True
    )
    with pytest.raises(EncryptedPdf) as caught:
        validate(locked.read_bytes(), pki)
    assert isinstance(caught.value, InvalidPdf)  # callers answering 422 catch both


def test_an_unsigned_pdf_has_no_signatures(pki: Pki) -> None:
    pdf = one_page_pdf()
    report = validate(pdf, pki)
    assert report.signatures == ()
    assert indication(report) == ("INDETERMINATE", NO_SIGNATURE)
    assert len(report.document_sha256) == 64


# -- the report ----------------------------------------------------------------------------


def test_the_json_report_is_serialisable_and_holds_only_what_the_certificate_says(
    pki: Pki, sign: Sign
) -> None:
    report = validate(sign(one_page_pdf(), timestamp_at=T_TIMESTAMP), pki)
    text = json.dumps(report.to_json(), ensure_ascii=False)
    decoded = json.loads(text)
    signature = decoded["signatures"][0]
    assert decoded["overall"] == "TOTAL-PASSED" and decoded["overall_sub_indication"] is None
    assert decoded["validation_time"] == "2026-12-10T00:00:00+00:00"
    assert signature["seal"] == {"organisation": ORG, "uscc": USCC, "seal_name": SEAL_NAME}
    assert signature["proven_signing_time"] == T_TIMESTAMP.isoformat()
    assert signature["claimed_signing_time"] == T_SIGN.isoformat()
    for typed_by_the_signer in [*PERSONAL.values(), "张三", "+86 591"]:
        assert typed_by_the_signer not in text
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.signatures[0].indication = "TOTAL-FAILED"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        # Revoked, no POE, no claimed time: nothing says it was made before.
        (
            Evidence(
                intact=True,
                valid=True,
                coverage_ok=True,
                docmdp_ok=True,
                trust_problem=Finding("INDETERMINATE", "REVOKED_NO_POE"),
                revoked_at=T_REVOKED,
            ),
            Finding("TOTAL-FAILED", "REVOKED"),
        ),
        # Expired, and the only POE is before the certificate was even issued.
        (
            Evidence(
                intact=True,
                valid=True,
                coverage_ok=True,
                docmdp_ok=True,
                trust_problem=Finding("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE"),
                certificate_not_before=SEAL_ISSUED,
                proof_of_existence=SEAL_ISSUED - timedelta(days=1),
            ),
            Finding("TOTAL-FAILED", "NOT_YET_VALID"),
        ),
        # Undetermined DocMDP compliance counts as a failure.
        (
            Evidence(intact=True, valid=True, coverage_ok=True, docmdp_ok=None, trust_problem=None),
            Finding("TOTAL-FAILED", "FORMAT_FAILURE"),
        ),
        # A bad signature value on intact data.
        (
            Evidence(
                intact=True, valid=False, coverage_ok=True, docmdp_ok=True, trust_problem=None
            ),
            Finding("TOTAL-FAILED", "SIG_CRYPTO_FAILURE"),
        ),
    ],
)
def test_indication_rules(evidence: Evidence, expected: Finding) -> None:
    assert decide(evidence) == expected
