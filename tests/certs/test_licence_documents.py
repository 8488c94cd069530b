"""The electronic licence as a sealed A4 PDF and a PNG preview, judged by independent tools:
poppler's ``pdfsig`` (signature valid, certificate trusted), ``pdftotext`` (the holder's
name is real text), ``pdftoppm`` + zxing-cpp (the QR read back from the rendered page), and
the QR verifying as the licence's own."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from certs.demo_types import BUSINESS_LICENCE, demo_licence_types
from certs.documents import SEALING_ACTOR, LicenceDocuments
from certs.errors import LicenceNotInForce, PrintStateConflict, SealOfAnotherAuthority
from certs.service import LicenceService
from core.audit.entry import parse_entry
from core.audit.storage import AuditEntryRow
from core.services import Services
from idp.identities.service import IdentityService
from seal.registry import SealRegistry, SealUseRefused
from seal.service import StampingService
from tests.certs.conftest import BUSINESS_FIELDS, COMPANY_USCC
from tests.seal.conftest import (  # noqa: F401 (fixtures)
    cjk_one_page_pdf,
    cjk_three_page_pdf,
    kit,
    need,
    pdfsig_nss_db,
    red_seal_png,
    stamping_services,
    status_of,
    wqy_font,
)
from verify.issuing import QrIssuer
from verify.publication import Publisher
from verify.qr_image import decode_image, read_qr_texts
from verify.status_sources import RegistryStatus
from verify.trust_list import read_trust_list
from verify.verdict import Verdict
from verify.verifier import verify_qr_text

AUTHORITY = "11350100MB00000012"
AUTHORITY_NAME = "福州市市场监督管理局"


@dataclass
class Office:
    services: Services
    licences: LicenceService
    seals: SealRegistry
    documents: LicenceDocuments
    publisher: Publisher
    seal_id: str
    admin: str


@pytest.fixture
def office(stamping_services: Services, tmp_path: Path) -> Iterator[Office]:
    services = stamping_services
    clock = services.keys.clock
    ids = IdentityService(services.sessions, services.identifiers, services.audit, clock)
    admin = ids.register_person("350102198503150022", "王芳", actor="t").id
    authority = ids.register_organisation(AUTHORITY, AUTHORITY_NAME, admin, actor="t")
    seals = SealRegistry(services.sessions, services.keys, services.audit, clock)
    seal = seals.create(organisation_id=authority.id, kind="official", by=admin)
    licences = LicenceService(services.sessions, services.identifiers, services.audit, clock)
    for licence_type in demo_licence_types(seal_id=seal.id):
        licences.register_type(licence_type, "t")
    publisher = Publisher(
        services.settings.issuer, services.sessions, services.keys, services.cache, clock
    )
    qr = QrIssuer(services.settings.issuer, publisher.status_list_uri, services.keys, clock)
    documents = LicenceDocuments(
        licences, seals, StampingService(seals, services.keys), qr, tmp_path / "fonts"
    )
    yield Office(services, licences, seals, documents, publisher, seal.id, admin)


def issue(office: Office) -> str:
    licence = office.licences.issue(
        BUSINESS_LICENCE,
        AUTHORITY,
        AUTHORITY_NAME,
        BUSINESS_FIELDS["name"],
        COMPANY_USCC,
        BUSINESS_FIELDS,
        date.today(),
        "admin",
    )
    return licence.identifier


def _run(tool: str, *args: str) -> str:
    return subprocess.run(
        [need(tool), *args], capture_output=True, text=True, timeout=60, check=True
    ).stdout


def _verdict(office: Office, text: str) -> Verdict:
    trust = read_trust_list(
        office.publisher.trust_list_token(), office.publisher.root_certificate()
    )
    status = RegistryStatus(office.licences)
    return verify_qr_text(text, trust, status, office.services.keys.clock()).verdict


def test_the_sealed_licence_pdf_passes_independent_checks(
    office: Office,
    pdfsig_nss_db: str,
    tmp_path: Path,
) -> None:
    identifier = issue(office)
    pdf = office.documents.sealed_pdf(identifier)
    path = tmp_path / "licence.pdf"
    path.write_bytes(pdf)

    report = _run("pdfsig", "-nssdir", pdfsig_nss_db, str(path))
    assert "Signature is Valid." in report
    assert "Certificate is Trusted." in report
    root = office.services.keys.signer("root").certificate_chain()[0]
    status = status_of(pdf, root)
    assert status.intact and status.valid and status.trusted

    text = _run("pdftotext", "-layout", str(path), "-")
    assert BUSINESS_FIELDS["name"] in text
    assert "营业执照" in text and AUTHORITY_NAME in text
    assert identifier in text.replace(" ", "")

    _run("pdftoppm", "-r", "150", "-png", "-singlefile", str(path), str(tmp_path / "page"))
    with Image.open(tmp_path / "page.png") as page:
        rendered = decode_image(page)
    assert len(rendered) == 1
    assert rendered == read_qr_texts(path)  # also found as the embedded image
    assert _verdict(office, rendered[0]) is Verdict.VALID


def test_every_sealing_is_in_the_audit_trail(office: Office) -> None:
    identifier = issue(office)
    office.documents.sealed_pdf(identifier)
    with office.services.sessions() as session:
        entries = [parse_entry(row.entry) for row in session.scalars(select(AuditEntryRow))]
    used = [e for e in entries if e.event.action == "seal.used"]
    assert len(used) == 1
    assert used[0].event.actor == SEALING_ACTOR
    assert used[0].event.object_id == office.seal_id
    assert used[0].event.details["on"] == identifier


def test_the_preview_shows_the_page_with_a_working_qr(office: Office) -> None:
    identifier = issue(office)
    png = office.documents.preview_png(identifier)
    with Image.open(io.BytesIO(png)) as preview:
        assert preview.size == (1240, 1754)  # A4 at 150 dpi
        texts = decode_image(preview)
    assert len(texts) == 1 and _verdict(office, texts[0]) is Verdict.VALID


def test_a_suspended_seal_seals_nothing(office: Office) -> None:
    identifier = issue(office)
    office.seals.set_status(office.seal_id, "suspended", by=office.admin, reason="审计")
    with pytest.raises(SealUseRefused, match="suspended"):
        office.documents.sealed_pdf(identifier)


def audited_uses(office: Office) -> int:
    with office.services.sessions() as session:
        entries = [parse_entry(row.entry) for row in session.scalars(select(AuditEntryRow))]
    return sum(1 for e in entries if e.event.action == "seal.used")


def test_a_licence_not_in_force_is_not_sealed_anew(office: Office) -> None:
    """A suspended or revoked version (or a superseded one) gets no freshly sealed document,
    which would validate as sealed although the licence is not in force; its QR still tells
    a verifier what became of it."""
    suspended, revoked = issue(office), issue(office)
    office.licences.suspend(suspended, "暂停营业", "admin")
    office.licences.revoke(revoked, "企业注销", "admin")
    for identifier, state in ((suspended, "suspended"), (revoked, "revoked")):
        with pytest.raises(LicenceNotInForce) as refused:
            office.documents.sealed_pdf(identifier)
        assert refused.value.problem.status == 409 and refused.value.problem.detail == state
        with pytest.raises(LicenceNotInForce):
            office.documents.sealed_ofd(identifier)
    assert audited_uses(office) == 0


def test_a_print_reported_lost_is_not_sealed_again(office: Office) -> None:
    identifier = issue(office)
    serial = office.licences.record_print(identifier, "admin")
    assert office.documents.sealed_pdf(identifier, serial)  # in use: sealed to print
    office.licences.report_print_lost(serial, "admin", "遗失声明")
    with pytest.raises(PrintStateConflict, match="lost"):
        office.documents.sealed_pdf(identifier, serial)
    assert audited_uses(office) == 1


def test_only_the_issuing_authority_s_own_seal_seals_its_licences(office: Office) -> None:
    """A type naming another organisation's seal cannot make that organisation seal a
    licence it did not issue."""
    other = "11350100MB00000038"
    licence = office.licences.issue(
        BUSINESS_LICENCE,
        other,
        "闽侯县市场监督管理局",
        BUSINESS_FIELDS["name"],
        COMPANY_USCC,
        BUSINESS_FIELDS,
        date.today(),
        "admin",
    )
    with pytest.raises(SealOfAnotherAuthority):
        office.documents.sealed_pdf(licence.identifier)
    assert audited_uses(office) == 0
