"""The stamping engine: PAdES B-B / B-T / B-LT seals judged by pyHanko's validator, the
placement rules, and the errors a caller sees for bad input."""

from __future__ import annotations

import asyncio
import io
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter, copy_into_new_writer
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.status import SignatureCoverageLevel

from keys.algorithms import KeyType
from seal.stamping import (
    AnchorNotFound,
    AtAnchor,
    AtPosition,
    CrossPage,
    EncryptedPdf,
    InvalidPdf,
    InvalidSealImage,
    PlacementError,
    RegistrySigner,
    StampingError,
    stamp_pdf,
)
from seal.stamping.engine import Level
from seal.stamping.placement import Rect, TextRun, find_anchor, locate
from seal.stamping.revinfo import validation_context
from seal.stamping.text_runs import PageText
from tests.seal.conftest import (
    A4,
    ANCHOR,
    ANCHOR_AT,
    ANCHOR_PREFIX,
    FONT_SIZE,
    Kit,
    make_seal_key,
    status_of,
)

PAGE = Rect(0, 0, *A4)


# -- levels, judged by pyHanko ------------------------------------------------------------


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT"])
def test_levels(kit: Kit, level: Level) -> None:
    sealed = kit.seal(level)
    assert sealed.startswith(kit.one_page)  # incremental updates, never a rewrite
    reader = PdfFileReader(io.BytesIO(sealed))
    signature = reader.embedded_signatures[0]
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert signature.sig_object["/Reason"] == "行政许可审批"
    names = {attribute["type"].native for attribute in signature.signer_info["signed_attrs"]}
    assert "signing_certificate_v2" in names and "signing_time" not in names  # EN 319 142-1
    # B-LT: revocation data is *required* and may only come from the document's DSS.
    status = status_of(sealed, kit.root, offline_from_dss=level == "B-LT")
    assert status.intact and status.valid and status.trusted and status.bottom_line
    timestamp = status.timestamp_validity
    if level == "B-B":
        assert timestamp is None
    else:
        assert timestamp is not None and timestamp.intact and timestamp.valid
        assert timestamp.trusted
    if level == "B-LT":
        dss = DocumentSecurityStore.read_dss(reader)
        # seal cert, seal CA, TSA cert, service CA: an OCSP response each; CRLs of 3 CAs
        assert len(dss.ocsps) >= 4 and len(dss.crls) >= 3 and dss.certs
        assert status.coverage is SignatureCoverageLevel.ENTIRE_REVISION
        assert status.modification_level is ModificationLevel.LTA_UPDATES
    else:
        assert status.coverage is SignatureCoverageLevel.ENTIRE_FILE


def test_b_t_from_a_tsa_url(kit: Kit) -> None:
    sealed = kit.seal("B-T", tsa=f"{kit.services.settings.issuer}/pki/tsa")
    timestamp = status_of(sealed, kit.root).timestamp_validity
    assert timestamp is not None and timestamp.valid and timestamp.trusted


def test_b_lt_of_a_revoked_seal_is_refused(kit: Kit) -> None:
    certificate = kit.key.certificate_chain()[0]
    issuer_kid = kit.key.info.issuer_kid
    assert issuer_kid is not None
    kit.revocation.revoke(issuer_kid, certificate.serial_number, x509.ReasonFlags.key_compromise)
    with pytest.raises(StampingError, match="could not be validated"):
        kit.seal("B-LT")


@pytest.mark.parametrize(
    ("key_type", "mechanism", "digest"),
    [(KeyType.RSA_2048, "sha256_rsa", "sha256"), (KeyType.ED25519, "ed25519", "sha512")],
)
def test_other_key_types(kit: Kit, key_type: KeyType, mechanism: str, digest: str) -> None:
    key = make_seal_key(kit.services, key_type)
    sealed = kit.seal(key=key)
    status = status_of(sealed, kit.root)
    assert status.intact and status.valid and status.trusted and status.bottom_line
    signer_info = PdfFileReader(io.BytesIO(sealed)).embedded_signatures[0].signer_info
    assert signer_info["signature_algorithm"]["algorithm"].native == mechanism
    assert signer_info["digest_algorithm"]["algorithm"].native == digest


# -- tampering and later changes ---------------------------------------------------------


def test_a_changed_byte_breaks_integrity(kit: Kit) -> None:
    sealed = bytearray(kit.seal())
    sealed[sealed.index(b"/MediaBox") + 2] ^= 0x01  # inside the first signed range
    status = status_of(bytes(sealed), kit.root)
    assert not status.intact and not status.bottom_line


def test_an_update_after_sealing_is_reported(kit: Kit) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(kit.seal()))
    overlay = writer.add_object(generic.StreamObject(stream_data=b"0 0 1 rg 10 10 50 50 re f"))
    writer.add_stream_to_page(0, overlay)
    buffer = io.BytesIO()
    writer.write(buffer)
    status = status_of(buffer.getvalue(), kit.root)
    assert status.intact and status.valid  # the signed revision itself is untouched
    assert status.coverage is SignatureCoverageLevel.ENTIRE_REVISION
    assert status.modification_level is ModificationLevel.OTHER
    assert not status.bottom_line


def test_cross_page_seal_is_signed_in_full(kit: Kit) -> None:
    sealed = kit.seal(placement=CrossPage(size=90), pdf=kit.three_page)
    reader = PdfFileReader(io.BytesIO(sealed))
    assert reader.total_revisions == 3  # original, slices on pages 1-2, signature
    status = status_of(sealed, kit.root)
    assert status.bottom_line and status.coverage is SignatureCoverageLevel.ENTIRE_FILE
    field = reader.embedded_signatures[0].sig_field
    widget_rect = [float(v) for v in field["/Rect"]]
    assert widget_rect == pytest.approx([A4[0] - 30, A4[1] / 2 - 45, A4[0], A4[1] / 2 + 45])
    last_page = reader.root["/Pages"]["/Kids"][2].get_object()
    assert any(annot.get_object() is field for annot in last_page["/Annots"])


# -- placement ---------------------------------------------------------------------------


def no_text(_page: int) -> list[TextRun]:
    return []


def test_position_out_of_range_or_off_the_page() -> None:
    with pytest.raises(PlacementError, match="out of range"):
        locate(AtPosition(1, 10, 10), [PAGE], no_text)
    with pytest.raises(PlacementError, match="off the page"):
        locate(AtPosition(0, 500, 10, 120), [PAGE], no_text)
    with pytest.raises(PlacementError, match="positive"):
        locate(AtPosition(0, 10, 10, 0), [PAGE], no_text)
    with pytest.raises(PlacementError, match="no pages"):
        locate(AtPosition(0, 10, 10), [], no_text)


def test_cross_page_slices() -> None:
    boxes = locate(CrossPage(size=120, y=300), [PAGE] * 4, no_text)
    assert [(box.page, box.index, box.count) for box in boxes] == [(i, i, 4) for i in range(4)]
    assert all(box.rect == Rect(A4[0] - 30, 240, A4[0], 360) for box in boxes)


def test_anchor_split_over_runs_and_occurrences() -> None:
    runs = [
        TextRun("甲方（盖", 100, 500, 10),
        TextRun("章）", 140, 500, 10),
        TextRun("乙方（盖章）", 100, 300, 20),
    ]
    assert find_anchor(ANCHOR, runs) == [
        pytest.approx((140.0, 503.5)),
        pytest.approx((180.0, 307.0)),
    ]
    first = locate(AtAnchor(ANCHOR, size=50, occurrence=0), [PAGE], lambda _: runs)
    assert first[0].rect == Rect(115, 478.5, 165, 528.5)
    moved = locate(AtAnchor(ANCHOR, size=50, offset=(10, -5)), [PAGE], lambda _: runs)
    assert moved[0].rect == Rect(165, 277, 215, 327)  # the last occurrence by default
    edge = [TextRun(ANCHOR, A4[0] - 30, 5, 12)]
    kept = locate(AtAnchor(ANCHOR, size=100), [PAGE], lambda _: edge)[0].rect
    assert PAGE.contains(kept) and kept.width == 100  # moved onto the page


def test_anchor_found_in_the_pdf_text(cjk_one_page_pdf: bytes) -> None:
    rect = locate(AtAnchor(ANCHOR, size=100), [PAGE], PageText(cjk_one_page_pdf))[0].rect
    advance = len(ANCHOR_PREFIX) + len(ANCHOR) / 2  # full-width characters, in ems
    assert (rect.x1 + rect.x2) / 2 == pytest.approx(ANCHOR_AT[0] + advance * FONT_SIZE, abs=0.5)
    assert (rect.y1 + rect.y2) / 2 == pytest.approx(ANCHOR_AT[1] + 0.35 * FONT_SIZE, abs=0.5)


def test_anchor_not_found_or_page_out_of_range(kit: Kit) -> None:
    with pytest.raises(AnchorNotFound) as caught:
        kit.seal(placement=AtAnchor("（签字）"))
    assert caught.value.problem.status == 422
    with pytest.raises(PlacementError, match="out of range"):
        kit.seal(placement=AtAnchor(ANCHOR, page=3))
    with pytest.raises(PlacementError, match="out of range"):
        kit.seal(placement=AtPosition(1, 100, 100))


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [b"", b"not a pdf", b"%PDF-1.7\n" + bytes(range(256)) * 4, b"%PDF-1.4\n%%EOF", "half"],
    ids=["empty", "text", "binary", "no-xref", "truncated"],
)
def test_invalid_pdf(kit: Kit, garbage: bytes | str) -> None:
    pdf = kit.one_page[: len(kit.one_page) // 2] if garbage == "half" else garbage
    assert isinstance(pdf, bytes)
    with pytest.raises(InvalidPdf) as caught:
        kit.seal(pdf=pdf)
    assert caught.value.problem.status == 400


def test_encrypted_pdf(kit: Kit) -> None:
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(kit.one_page)))
    assert isinstance(writer, PdfFileWriter)
    writer.encrypt("owner-secret", "user-secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(EncryptedPdf) as caught:
        kit.seal(pdf=buffer.getvalue())
    assert caught.value.problem.type == "/problems/encrypted-pdf"


def test_invalid_seal_image(kit: Kit) -> None:
    with pytest.raises(InvalidSealImage):
        stamp_pdf(kit.one_page, kit.key, b"\x89PNG broken", AtPosition(0, 10, 10), "B-B")


def test_levels_need_their_services(kit: Kit) -> None:
    place = AtPosition(0, 10, 10)
    with pytest.raises(ValueError, match="time-stamp authority"):
        stamp_pdf(kit.one_page, kit.key, kit.seal_png, place, "B-T")
    with pytest.raises(ValueError, match="validation context"):
        stamp_pdf(kit.one_page, kit.key, kit.seal_png, place, "B-LT", timestamper=kit.tsa)
    with pytest.raises(ValueError, match="unknown PAdES level"):
        stamp_pdf(kit.one_page, kit.key, kit.seal_png, place, "B-LTA")  # type: ignore[arg-type]


# -- the signer adapter ------------------------------------------------------------------


def test_signer_adapter(kit: Kit) -> None:
    signer = RegistrySigner(kit.key)
    chain = kit.key.certificate_chain()
    assert signer.signing_cert is not None
    assert signer.signing_cert.dump() == chain[0].public_bytes(Encoding.DER)
    registered = {certificate.dump() for certificate in signer.cert_registry}
    assert registered == {certificate.public_bytes(Encoding.DER) for certificate in chain[1:]}
    assert signer.get_signature_mechanism_for_digest("sha256").signature_algo == "ecdsa"
    assert asyncio.run(signer.async_sign_raw(b"data", "sha256", dry_run=True)) == bytes(72)
    signature = asyncio.run(signer.async_sign_raw(b"data", "sha256"))
    public_key = kit.key.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signature, b"data", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(SigningError, match="sha512"):
        asyncio.run(signer.async_sign_raw(b"data", "sha512"))


def test_revocation_data_fetched_seconds_after_the_context_was_made_is_accepted(
    kit: Kit,
) -> None:
    """A batch makes its validation context before its first signature, and the OCSP
    response and CRL are dated when that signature fetches them: seconds later on a loaded
    machine, which pyhanko-certvalidator's default tolerance (1 s) refused as "too recent"."""
    context = validation_context(kit.revocation, [kit.root])
    time.sleep(2.5)
    sealed = stamp_pdf(
        kit.one_page,
        kit.key,
        kit.seal_png,
        AtPosition(0, 100, 100),
        "B-LT",
        timestamper=kit.tsa,
        validation=context,
        reason="行政许可审批",
    )
    assert status_of(sealed, kit.root, offline_from_dss=True).bottom_line
