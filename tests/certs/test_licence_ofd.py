"""A licence as an OFD file (GB/T 33190-2016) sealed with a GB/T 38540-2020 seal made from the
registry's SM2 hierarchy: it opens in an independent OFD reader (easyofd parses and renders it,
and the QR in the rendered page decodes), its seal verifies, and each kind of tampering is
detected and named."""

from __future__ import annotations

import base64
import datetime as dt
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from cryptography import x509
from PIL import Image

from certs.fonts import truetype_font
from certs.layout import LicencePage, licence_page
from certs.ofd.licence import registry_trust, sealed_licence_ofd
from certs.ofd.package import MM_PER_POINT, licence_package
from certs.ofd.signature import SIGNATURES, OfdSealer, StampPlace, seal_ofd
from certs.ofd.verify import verify_ofd
from certs.ofd.xml import q, read_container, write_container
from certs.render_pdf import render_pdf
from certs.render_png import render_png
from certs.service import LicenceService
from core.services import Services
from keys.revocation import Revocation
from keys.sm2 import sm3
from seal.images import SealDesign, render_seal
from seal.ses.make import SealPicture, SealSpec, make_seal
from seal.ses.verify import SesTrust
from tests.certs.conftest import ISSUER_NAME, issue_business
from tests.conftest import FrozenClock
from tests.keys.sm2_services import asn1_certificate, sm2_services
from verify.qr_image import decode_image

pytestmark = pytest.mark.parametrize("backend", ["embedded"])  # storage is not under test

QR_TEXT = "HTTPS://GOVTRUST.TEST/V/1/ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
SIGNED_VALUE = "Doc_0/Signs/Sign_0/SignedValue.dat"
SIGNATURE = "Doc_0/Signs/Sign_0/Signature.xml"
PAGE = "Doc_0/Pages/Page_0/Content.xml"


@dataclass
class Sealed:
    page: LicencePage
    data: bytes
    trust: SesTrust
    sealer: OfdSealer
    sm2: Services
    font: Path

    def files(self) -> dict[str, bytes]:
        return read_container(self.data)


@pytest.fixture
def sm2(tmp_path: Path, clock: FrozenClock) -> Iterator[Services]:
    built = sm2_services(tmp_path / "sm2", clock)
    built.keys.init()
    yield built
    built.close()


def make_sealer(sm2: Services) -> OfdSealer:
    """The issuing authority's seal: made by the SM2 seal maker, listing the SM2
    licence-signing certificate as the one that may sign with it."""
    licence_key = sm2.keys.signer("sm2-licence")
    maker = sm2.keys.signer("sm2-seal-maker")
    picture = render_seal(SealDesign(kind="official", organisation=ISSUER_NAME), dpi=150)
    spec = SealSpec(
        es_id="22000000000001",
        seal_type=1,
        name=f"{ISSUER_NAME}电子证照专用章",
        signer_certificates=[asn1_certificate(sm2, licence_key.kid)],
        created=NOW - dt.timedelta(days=1),
        valid_start=NOW - dt.timedelta(days=1),
        valid_end=NOW + dt.timedelta(days=3 * 365),
        picture=SealPicture("PNG", picture, 42, 42),
    )
    seal = make_seal(spec, asn1_certificate(sm2, maker.kid), maker)
    return OfdSealer(seal, asn1_certificate(sm2, licence_key.kid), licence_key)


@pytest.fixture
def sealed(licences: LicenceService, sm2: Services, tmp_path: Path) -> Sealed:
    licence = issue_business(licences)
    page = licence_page(licence, licences.get_type(licence.type_code), QR_TEXT)
    font = truetype_font(tmp_path / "fonts")
    sealer = make_sealer(sm2)
    data = sealed_licence_ofd(page, font, f"营业执照 {licence.licence_number}", sealer, NOW)
    return Sealed(page, data, registry_trust(sm2.keys), sealer, sm2, font)


def rezip(files: dict[str, bytes]) -> bytes:
    return write_container(files)


def test_the_package_follows_the_page_model(sealed: Sealed) -> None:
    files = sealed.files()
    assert {
        "OFD.xml",
        "Doc_0/Document.xml",
        "Doc_0/PublicRes.xml",
        "Doc_0/DocumentRes.xml",
        PAGE,
        SIGNATURES,
        SIGNATURE,
        SIGNED_VALUE,
    } <= set(files)
    assert zipfile.ZipFile(io.BytesIO(sealed.data)).namelist()[0] == "OFD.xml"
    page = ET.fromstring(files[PAGE])
    texts = [node.text for node in page.iter(q("TextCode"))]
    assert texts == [item.text for item in sealed.page.texts]
    # the first text (the title, centred) sits where the PDF puts it, in mm from the top left
    title = sealed.page.texts[0]
    first_text = page.find(f".//{q('TextObject')}")
    assert first_text is not None
    code = first_text.find(q("TextCode"))
    assert code is not None
    top = float(first_text.get("Boundary", "").split()[1])
    baseline = top + float(code.get("Y", ""))
    assert baseline == pytest.approx((sealed.page.height - title.y) * MM_PER_POINT, abs=0.01)
    image = page.find(f".//{q('ImageObject')}")
    assert image is not None
    qr = sealed.page.qr
    assert [float(v) for v in image.get("Boundary", "").split()] == pytest.approx(
        [
            qr.x * MM_PER_POINT,
            (sealed.page.height - qr.y - qr.size) * MM_PER_POINT,
            qr.size * MM_PER_POINT,
            qr.size * MM_PER_POINT,
        ],
        abs=0.001,
    )
    fonts = [name for name in files if name.endswith(".ttf")]
    assert len(fonts) == 1 and len(files[fonts[0]]) < 200_000  # subset, not the 4.6 MB font
    stamp = ET.fromstring(files[SIGNATURE]).find(f".//{q('StampAnnot')}")
    seal = sealed.page.seal
    assert stamp is not None and float(stamp.get("Boundary", "").split()[1]) == pytest.approx(
        (sealed.page.height - seal.y - seal.size) * MM_PER_POINT, abs=0.001
    )


def test_the_seal_verifies(sealed: Sealed) -> None:
    result = verify_ofd(sealed.data, sealed.trust)
    assert result.valid, result.summary
    [signature] = result.signatures
    assert signature.path == SIGNATURE
    assert signature.references == len(sealed.files()) - 3  # all but the list and its own two
    assert signature.ses is not None and signature.ses.signer_revocation == "good"
    assert signature.ses.seal_name == f"{ISSUER_NAME}电子证照专用章"


def test_references_are_sm3_of_each_file(sealed: Sealed) -> None:
    files = sealed.files()
    for reference in ET.fromstring(files[SIGNATURE]).iter(q("Reference")):
        path = reference.get("FileRef", "").lstrip("/")
        check = reference.find(q("CheckValue"))
        assert check is not None and base64.b64decode(check.text or "") == sm3(files[path])


def test_easyofd_parses_and_renders_it_and_the_qr_decodes(
    sealed: Sealed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    easyofd = pytest.importorskip("easyofd.ofd")
    monkeypatch.chdir(tmp_path)  # easyofd unpacks into the working directory
    reader = easyofd.OFD()
    reader.read(sealed.data, fmt="binary")
    [document] = reader.data
    assert document["default_page_size"] == pytest.approx([0, 0, 210, 297], abs=0.1)
    page = document["page_info"][0]
    texts = [cell["text"] for cell in page["text_list"]]
    assert sorted(texts) == sorted(item.text for item in sealed.page.texts)
    assert len(page["img_list"]) == 1
    [stamp] = document["signatures_page_id"][0]
    assert stamp["Boundary"] and stamp["SignedValue"]
    [image] = reader.to_jpg()
    assert image.size[0] > 1000
    assert decode_image(image) == [QR_TEXT]
    # the seal picture is drawn from the SES seal at the seal box: red pixels there
    scale = image.size[0] / 210
    seal = sealed.page.seal
    left = seal.x * MM_PER_POINT * scale
    top = (sealed.page.height - seal.y - seal.size) * MM_PER_POINT * scale
    side = seal.size * MM_PER_POINT * scale
    box = image.convert("RGB").crop((int(left), int(top), int(left + side), int(top + side)))
    red = sum(1 for r, g, b in box.get_flattened_data() if r > 150 and g < 90 and b < 90)
    assert red > 500


Tamper = Callable[[dict[str, bytes]], None]


def _edit_page(files: dict[str, bytes]) -> None:
    files[PAGE] = files[PAGE].replace("有限责任公司".encode(), "股份有限公司".encode())


def _flip_signature_bit(files: dict[str, bytes]) -> None:
    value = bytearray(files[SIGNED_VALUE])
    value[-10] ^= 0x01  # inside the signer's signature BIT STRING
    files[SIGNED_VALUE] = bytes(value)


def _truncate_signed_value(files: dict[str, bytes]) -> None:
    files[SIGNED_VALUE] = files[SIGNED_VALUE][:-40]


def _add_file(files: dict[str, bytes]) -> None:
    files["Doc_0/Res/extra.png"] = b"\x89PNG"


def _drop_font(files: dict[str, bytes]) -> None:
    for name in [name for name in files if name.endswith(".ttf")]:
        del files[name]


def _edit_signature_xml(files: dict[str, bytes]) -> None:
    files[SIGNATURE] = files[SIGNATURE].replace(b'ID="1"', b'ID="9"', 1)


@pytest.mark.parametrize(
    ("tamper", "expected", "named"),
    [
        (_edit_page, "reference", "/" + PAGE),
        (_flip_signature_bit, "ses.signature", "TBS_Sign"),
        (_truncate_signed_value, "ses.format", "SES_Signature"),
        (_add_file, "reference", "/Doc_0/Res/extra.png"),
        (_drop_font, "reference", ".ttf: referenced file is missing"),
        (_edit_signature_xml, "ses.data_hash", "dataHash"),
    ],
    ids=["page", "signature-bit", "signed-value-cut", "added-file", "missing-font", "sig-xml"],
)
def test_tampering_is_detected_and_named(
    sealed: Sealed, tamper: Tamper, expected: str, named: str
) -> None:
    files = sealed.files()
    tamper(files)
    result = verify_ofd(rezip(files), sealed.trust)
    assert not result.valid
    assert result.failed_checks[0] == expected, result.summary
    assert named in result.summary


def test_an_untrusted_or_revoked_signer_fails(sealed: Sealed, tmp_path: Path) -> None:
    assert not verify_ofd(sealed.data, SesTrust(roots=[])).valid
    certificate = sealed.sm2.keys.signer("sm2-licence").certificate_chain()[0]
    issuer_kid = sealed.sm2.keys.signer("sm2-licence").info.issuer_kid
    assert issuer_kid is not None
    Revocation(sealed.sm2.keys).revoke(
        issuer_kid, certificate.serial_number, x509.ReasonFlags.key_compromise
    )
    result = verify_ofd(sealed.data, registry_trust(sealed.sm2.keys))
    assert result.failed_checks == ("ses.signer_certificate",), result.summary
    assert "revoked" in result.summary


def test_not_an_ofd_and_unsigned_packages_are_refused(sealed: Sealed) -> None:
    assert verify_ofd(b"not a zip", sealed.trust).failed_checks == ("package",)
    package = licence_package(sealed.page, sealed.font, "unsigned", NOW)
    unsigned = verify_ofd(write_container(package.files), sealed.trust)
    assert unsigned.failed_checks == ("package",) and "no signature" in unsigned.summary
    evil = dict(package.files)
    evil["Doc_0/Document.xml"] = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    assert "document type declaration" in verify_ofd(write_container(evil), sealed.trust).summary


def test_a_second_seal_keeps_the_first_valid(sealed: Sealed) -> None:
    files = sealed.files()
    package = licence_package(sealed.page, sealed.font, "x", NOW)
    place = StampPlace(package.page_id, package.seal)
    twice = seal_ofd(files, sealed.sealer, place, NOW + dt.timedelta(minutes=1))
    result = verify_ofd(write_container(twice), sealed.trust)
    assert result.valid, result.summary
    assert [signature.path for signature in result.signatures] == [
        SIGNATURE,
        "Doc_0/Signs/Sign_1/Signature.xml",
    ]
    assert result.signatures[1].references == result.signatures[0].references + 2


def test_every_renderer_draws_the_frame_of_the_page_model(sealed: Sealed) -> None:
    """The red frame is a field of the page (certs.layout), not numbers in each renderer:
    move and recolour it and the OFD, the PDF and the PNG all follow."""
    frame = replace(sealed.page.frame, x=50.0, width=495.0, rgb=(0, 0, 200))
    page = replace(sealed.page, frame=frame)
    package = licence_package(page, sealed.font, "t", NOW)
    path = ET.fromstring(package.files[PAGE]).find(f".//{q('PathObject')}")
    assert path is not None
    assert path.find(q("StrokeColor")).get("Value") == "0 0 200"  # type: ignore[union-attr]
    assert float(path.get("Boundary", "").split()[0]) == pytest.approx(50 * MM_PER_POINT, abs=0.001)
    assert b"0 0 0.784 RG 1.5 w 50 36 495 770 re S" in render_pdf(page, sealed.font, "t")
    default = render_pdf(sealed.page, sealed.font, "t")
    assert b"0.851 0.102 0.102 RG 1.5 w 36 36 523 770 re S" in default
    with Image.open(io.BytesIO(render_png(page, str(sealed.font), None, dpi=72))) as image:
        assert image.convert("RGB").getpixel((50, 400)) == (0, 0, 200)
        assert image.convert("RGB").getpixel((36, 400)) == (255, 255, 255)
