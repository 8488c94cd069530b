"""``govtrust verify FILE`` as an inspector runs it: pin the root once, refresh the lists from
the service while online, then verify photos, PDFs and text offline; exit 0 only for a valid
licence. The service runs for real on loopback (uvicorn)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from certs.demo_types import demo_licence_types
from certs.models import Licence
from certs.qr_symbol import qr_png
from certs.service import LicenceService
from core.cli import main
from core.services import Services
from tests.certs.conftest import ADMIN, BUSINESS_FIELDS, COMPANY_USCC, ISSUER, ISSUER_NAME
from tests.seal.conftest import stamping_services  # noqa: F401 (a fixture: the live service)
from verify.issuing import QrIssuer
from verify.offline_cache import OfflineCache
from verify.publication import Publisher
from verify.status_list import StatusListError

BUSINESS = demo_licence_types()[0].code


@dataclass
class Field:
    """An inspector's laptop (cache folder) and the service it refreshes from."""

    services: Services
    licences: LicenceService
    publisher: Publisher
    qr: QrIssuer
    cache: Path
    root: Path
    tmp: Path

    def verify(self, *args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(main, ["verify", *args, "--cache", str(self.cache)], input=stdin)

    def issue(self) -> Licence:
        return self.licences.issue(
            BUSINESS,
            ISSUER,
            ISSUER_NAME,
            BUSINESS_FIELDS["name"],
            COMPANY_USCC,
            BUSINESS_FIELDS,
            date.today(),
            ADMIN,
        )

    def scan(self, licence: Licence, name: str = "scan.png") -> Path:
        path = self.tmp / name
        path.write_bytes(qr_png(self.qr.electronic(licence)))
        return path


@pytest.fixture
def field(stamping_services: Services, tmp_path: Path) -> Field:
    services = stamping_services
    clock = services.keys.clock
    licences = LicenceService(services.sessions, services.identifiers, services.audit, clock)
    for licence_type in demo_licence_types():
        licences.register_type(licence_type, ADMIN)
    publisher = Publisher(
        services.settings.issuer, services.sessions, services.keys, services.cache, clock
    )
    root = tmp_path / "root.pem"
    root.write_bytes(publisher.root_certificate().public_bytes(Encoding.PEM))
    qr = QrIssuer(services.settings.issuer, publisher.status_list_uri, services.keys, clock)
    return Field(services, licences, publisher, qr, tmp_path / "cache", root, tmp_path)


def test_nothing_is_verified_before_a_root_is_pinned(field: Field) -> None:
    result = field.verify(str(field.scan(field.issue())), "--offline")
    assert result.exit_code == 2
    assert "no pinned root" in result.output


def test_refresh_once_then_verify_offline(field: Field) -> None:
    licence = field.issue()
    scan = field.scan(licence)
    service = field.services.settings.issuer
    first = field.verify(str(scan), "--root", str(field.root), "--service", service)
    assert first.exit_code == 0, first.output
    assert "verdict: VALID" in first.output
    assert "营业执照" in first.output and ISSUER_NAME in first.output
    assert "trust list: signed" in first.output and "s old" in first.output

    field.licences.revoke(licence.identifier, "注销", ADMIN)
    stale = field.verify(str(scan), "--offline")
    assert stale.exit_code == 0  # the cached list predates the revocation, and says how old it is
    field.publisher.forget()  # the service publishes the event (within 5 s in production)
    refreshed = field.verify(str(scan))  # online again: the remembered service is asked
    assert refreshed.exit_code == 1
    assert "verdict: REVOKED" in refreshed.output


def test_text_stdin_and_json(field: Field) -> None:
    licence = field.issue()
    text = field.qr.electronic(licence)
    service = field.services.settings.issuer
    assert (
        field.verify("-", "--root", str(field.root), "--service", service, stdin=text).exit_code
        == 0
    )
    text_file = field.tmp / "scanned.txt"
    text_file.write_text(text + "\n")
    as_json = field.verify(str(text_file), "--offline", "--json")
    assert as_json.exit_code == 0
    report = json.loads(as_json.output)
    assert report["verdict"] == "valid"
    assert report["checks"] == {"decode": True, "signature": True, "expiry": True, "status": True}
    assert report["licence"]["holder_name"] == BUSINESS_FIELDS["name"]
    assert report["clock_skew_tolerance_seconds"] == 120


def test_an_unreachable_service_falls_back_to_the_cache(field: Field) -> None:
    scan = field.scan(field.issue())
    service = field.services.settings.issuer
    assert field.verify(str(scan), "--root", str(field.root), "--service", service).exit_code == 0
    result = field.verify(str(scan), "--service", "http://127.0.0.1:9")
    assert result.exit_code == 0
    assert "using the cached lists" in result.output


def _foreign_root() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Not the govtrust root")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(Encoding.PEM)


def test_a_foreign_root_refuses_the_downloaded_lists(field: Field) -> None:
    pem = field.tmp / "foreign.pem"
    pem.write_bytes(_foreign_root())
    service = field.services.settings.issuer
    result = field.verify(str(field.scan(field.issue())), "--root", str(pem), "--service", service)
    assert result.exit_code == 2
    assert "refusing the downloaded lists" in result.output
    assert "does not chain to the pinned root" in result.output


def test_files_without_a_code_cannot_be_verified(field: Field) -> None:
    field.verify(
        "-", "--root", str(field.root), "--service", field.services.settings.issuer, stdin="x"
    )
    letter = field.tmp / "letter.png"
    letter.write_text("not an image")
    result = field.verify(str(letter), "--offline")
    assert result.exit_code == 2
    assert "cannot verify" in result.output
    missing = field.verify(str(field.tmp / "nowhere.png"), "--offline")
    assert missing.exit_code != 0


def test_an_older_status_list_replayed_by_a_mirror_is_refused(field: Field) -> None:
    """A mirror serving the list from before a revocation must not turn the licence back
    to valid in a cache that already holds the later list: the download is refused and the
    cache keeps what it had."""
    licence = field.issue()
    scan = field.scan(licence)
    service = field.services.settings.issuer
    assert field.verify(str(scan), "--root", str(field.root), "--service", service).exit_code == 0
    cache = OfflineCache(field.cache)
    before = {uri: status.token for uri, status in cache.load().status_lists.items()}
    time.sleep(1.1)  # the lists' iat counts seconds
    field.licences.revoke(licence.identifier, "注销", ADMIN)
    field.publisher.forget()
    assert "verdict: REVOKED" in field.verify(str(scan)).output  # the later list is cached
    trust_token = cache.load().trust.token
    with pytest.raises(StatusListError, match="before the cached one"):
        cache.store(trust_token, before, datetime.now(UTC))
    offline = field.verify(str(scan), "--offline")
    assert offline.exit_code == 1 and "verdict: REVOKED" in offline.output
