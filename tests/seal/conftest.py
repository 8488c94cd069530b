"""Fixtures for the stamping tests: a seal key from the registry, govtrust's TSA and
revocation services, test PDFs with Chinese text, a seal image, and the independent tools.

Storage is not under test here: only the embedded backend. The clock follows real time,
because poppler's ``pdfsig`` checks certificates against the real "now". The fixtures have
their own names (``stamping_*``...): other seal tests share this directory and keep the
shared ``services``/``clock``/``backend`` fixtures of ``tests/conftest.py``.
"""

from __future__ import annotations

import io
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from fontTools.ttLib import TTCollection
from PIL import Image, ImageDraw
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from core.app import create_app
from core.db.migrate import upgrade
from core.services import Services, build_services
from keys.algorithms import KeyType
from keys.registry import ManagedSigner
from keys.revocation import Revocation
from keys.tsa import TimeStampAuthority, TsaConfig
from seal.stamping import AtPosition, Placement, stamp_pdf, validation_context
from seal.stamping.engine import Level
from seal.stamping.signer import to_asn1
from tests.conftest import FrozenClock, make_settings

WQY = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
A4 = (595.0, 842.0)
ANCHOR = "（盖章）"
ANCHOR_AT = (300.0, 200.0)  # baseline start of "申请单位（盖章）" on every page
ANCHOR_PREFIX = "申请单位"
FONT_SIZE = 14.0


class LiveClock(FrozenClock):
    """The registry's clock on real time (certificates, OCSP and CRLs agree with pdfsig)."""

    def __call__(self) -> datetime:
        return datetime.now(UTC)


@pytest.fixture
def stamping_services(tmp_path: Path) -> Iterator[Services]:
    """Migrated services (embedded backend) with their keys, on a live clock, served over
    HTTP on loopback: the certificates' OCSP, CRL and CA URLs (and /pki/tsa) answer, so
    pdfsig (NSS) can check revocation online as it insists on (it fails every certificate
    whose OCSP URL does not answer, and every one with -no-ocsp)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    settings = make_settings(tmp_path, issuer=f"http://127.0.0.1:{port}")
    built = build_services(settings, clock=LiveClock())
    upgrade(built.engine)
    built.keys.init()
    config = uvicorn.Config(create_app(settings, built), lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the govtrust app did not start")
        time.sleep(0.01)
    try:
        yield built
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()
        built.close()


def make_seal_key(services: Services, key_type: KeyType = KeyType.EC_P256) -> ManagedSigner:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "某市行政审批局"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "91350100M000100Y43"),
            x509.NameAttribute(NameOID.COMMON_NAME, "某市行政审批局行政审批专用章"),
        ]
    )
    info = services.keys.create_object_key("seal", subject, actor="test", key_type=key_type)
    return services.keys.signer_by_kid(info.kid)


@dataclass
class Kit:
    """Everything a stamping test needs: a seal key of a fresh registry, its TSA and
    revocation services, the govtrust root, the seal image and the test documents."""

    services: Services
    key: ManagedSigner
    tsa: TimeStampAuthority
    revocation: Revocation
    seal_png: bytes
    one_page: bytes
    three_page: bytes

    @property
    def root(self) -> x509.Certificate:
        return self.key.certificate_chain()[-1]

    def seal(
        self,
        level: Level = "B-B",
        placement: Placement | None = None,
        *,
        pdf: bytes | None = None,
        key: ManagedSigner | None = None,
        tsa: TimeStampAuthority | str | None = None,
    ) -> bytes:
        """``pdf`` (the one-page document) sealed at ``level``: B-T and B-LT with the
        in-process TSA unless ``tsa`` says otherwise, B-LT with in-process revinfo."""
        return stamp_pdf(
            self.one_page if pdf is None else pdf,
            key or self.key,
            self.seal_png,
            placement or AtPosition(0, 100, 100),
            level,
            timestamper=None if level == "B-B" else (tsa or self.tsa),
            validation=(
                validation_context(self.revocation, [self.root]) if level == "B-LT" else None
            ),
            reason="行政许可审批",
        )


@pytest.fixture
def kit(
    stamping_services: Services,
    red_seal_png: bytes,
    cjk_one_page_pdf: bytes,
    cjk_three_page_pdf: bytes,
) -> Kit:
    services = stamping_services
    signer = services.keys.signer("tsa")
    chain = signer.certificate_chain()
    return Kit(
        services=services,
        key=make_seal_key(services),
        tsa=TimeStampAuthority(signer, chain[0], chain[1:], TsaConfig(), services.keys.clock),
        revocation=Revocation(services.keys),
        seal_png=red_seal_png,
        one_page=cjk_one_page_pdf,
        three_page=cjk_three_page_pdf,
    )


@pytest.fixture(scope="session")
def red_seal_png() -> bytes:
    """A red seal on a transparent background: ring, inner ring, a filled star-ish disc."""
    size = 400
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    red = (220, 20, 30, 255)
    draw.ellipse((8, 8, size - 8, size - 8), outline=red, width=22)
    draw.ellipse((150, 150, 250, 250), fill=red)
    draw.rectangle((90, 280, 310, 300), fill=red)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def wqy_font(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first face of WenQuanYi Micro Hei as a TTF (pyHanko cannot open a TTC)."""
    path = tmp_path_factory.mktemp("font") / "wqy-microhei.ttf"
    TTCollection(str(WQY)).fonts[0].save(str(path))
    return path


def make_pdf(font: Path, pages: int) -> bytes:
    """An A4 document: a title and "申请单位（盖章）" at ANCHOR_AT on every page."""
    writer = PdfFileWriter(stream_xrefs=False)
    engine = GlyphAccumulatorFactory(str(font), font_size=int(FONT_SIZE)).create_font_engine(writer)
    upem = engine.units_per_em
    for number in range(1, pages + 1):
        title = engine.shape(f"行政许可决定书 第{number}页").graphics_ops
        anchor = engine.shape(ANCHOR_PREFIX + ANCHOR).graphics_ops
        content = b"BT /F1 %g Tf 72 760 Td %s ET BT /F1 %g Tf %g %g Td %s ET" % (
            FONT_SIZE,
            title,
            FONT_SIZE,
            *ANCHOR_AT,
            anchor,
        )
        stream = writer.add_object(generic.StreamObject(stream_data=content))
        fonts = generic.DictionaryObject({pdf_name("/F1"): engine.as_resource()})
        resources = generic.DictionaryObject({pdf_name("/Font"): fonts})
        writer.insert_page(PageObject(stream, [0, 0, *A4], resources))
    engine.prepare_write()
    # pyHanko writes TrueType /W in font units; ISO 32000-1 §9.7.4.3 wants 1/1000 em.
    cid_font = engine.as_resource().get_object()["/DescendantFonts"][0].get_object()
    cid_font["/W"] = generic.ArrayObject(
        generic.ArrayObject(generic.NumberObject(round(w * 1000 / upem)) for w in item)
        if isinstance(item, generic.ArrayObject)
        else item
        for item in cid_font["/W"]
    )
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def cjk_one_page_pdf(wqy_font: Path) -> bytes:
    return make_pdf(wqy_font, 1)


@pytest.fixture(scope="session")
def cjk_three_page_pdf(wqy_font: Path) -> bytes:
    return make_pdf(wqy_font, 3)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (.ci/run installs it)")
    return path


@pytest.fixture
def pdfsig_nss_db(tmp_path: Path, kit: Kit) -> Iterator[str]:
    """An NSS database trusting only the govtrust root, for pdfsig."""
    directory = tmp_path / "nss"
    directory.mkdir()
    root_pem = tmp_path / "root.pem"
    root_pem.write_bytes(kit.root.public_bytes(Encoding.PEM))
    certutil = need("certutil")
    subprocess.run(
        [certutil, "-N", "-d", f"sql:{directory}", "--empty-password"], check=True, timeout=60
    )
    subprocess.run(
        [certutil, "-A", "-d", f"sql:{directory}", "-n", "root", "-t", "C,C,C", "-i", root_pem],
        check=True,
        timeout=60,
    )
    yield f"sql:{directory}"


def status_of(
    pdf: bytes, root: x509.Certificate, *, offline_from_dss: bool = False, index: int = 0
) -> PdfSignatureStatus:
    """pyHanko's verdict on signature ``index``, trusting only the govtrust root.

    ``offline_from_dss``: revocation data is *required* and may only come from the
    document's DSS (no fetching): what a B-LT signature promises.
    """
    reader = PdfFileReader(io.BytesIO(pdf))
    signature = reader.embedded_signatures[index]
    roots = [to_asn1(root)]
    if offline_from_dss:
        store = DocumentSecurityStore.read_dss(reader)
        context = store.as_validation_context(
            {"trust_roots": roots, "allow_fetching": False, "revocation_mode": "require"}
        )
    else:
        context = ValidationContext(trust_roots=roots)
    return validate_pdf_signature(signature, context, ValidationContext(trust_roots=roots))
