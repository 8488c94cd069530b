"""The trust bundle with the SM2 hierarchy (issue #12): `/pki/trust` and `govtrust keys
export-trust` publish the SM2 root, CAs and licence-signing certificates when
GOVTRUST_SM2_ENABLED is on (and only then), so that an SM2 verifier pins `sm2-root` and
checks the chain from the bundle alone; the bundle names the audit log's tree hash.

The chain is checked by openssl alone (TBSCertificate cut out by ``asn1parse``, verified by
``dgst -sm3 -sigopt distid:1234567812345678``): Debian's openssl 3.0 ``verify`` reports
"certificate signature failure" for SM2-signed certificates (it sets no SM2 ID on them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner
from cryptography import x509
from fastapi.testclient import TestClient

from core.app import create_app
from core.services import Services
from keys.sm2 import OID_SM2_WITH_SM3
from keys.trust import SM2_CERTIFIED_PURPOSES
from tests.conftest import FrozenClock
from tests.keys.sm2_services import sm2_services
from tests.keys.sm2_testpki import openssl, openssl_verify_sm2
from tests.keys.test_keys_cli import ok, runner

__all__ = ["runner"]  # the fixture, shared with test_keys_cli


@pytest.fixture
def sm2(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, clock: FrozenClock
) -> Iterator[Services]:
    built = sm2_services(tmp_path, clock, backend, request)
    built.keys.init()
    yield built
    built.close()


def openssl_checks_signature(tmp: Path, certificate_pem: str, issuer_pem: str) -> bool:
    """Is ``certificate_pem`` signed (SM2 with SM3) by the key of ``issuer_pem``? openssl only,
    but for reading the signature BIT STRING."""
    (tmp / "cert.pem").write_text(certificate_pem)
    (tmp / "issuer.pem").write_text(issuer_pem)
    pub = openssl("x509", "-in", tmp / "issuer.pem", "-noout", "-pubkey").stdout
    listing = openssl("asn1parse", "-in", tmp / "cert.pem").stdout.splitlines()
    tbs_offset = listing[1].split(":")[0].strip()  # first child of the outer SEQUENCE
    openssl(
        "asn1parse", "-in", tmp / "cert.pem", "-strparse", tbs_offset, "-noout",
        "-out", tmp / "tbs",
    )  # fmt: skip
    _, _, der = pem.unarmor(certificate_pem.encode())
    signature = asn1_x509.Certificate.load(der)["signature_value"].native
    return openssl_verify_sm2(tmp, pub.encode(), signature, (tmp / "tbs").read_bytes())


def by_purpose(bundle: dict[str, object]) -> dict[str, list[dict[str, str]]]:
    grouped: dict[str, list[dict[str, str]]] = {}
    for entry in bundle["certificates"]:  # type: ignore[attr-defined]
        grouped.setdefault(entry["purpose"], []).append(entry)
    return grouped


def check_sm2_chain(tmp: Path, grouped: dict[str, list[dict[str, str]]]) -> None:
    """From the bundle alone: sm2-root self-signed, the CAs under it, the licence keys under
    the service CA; every certificate SM2-with-SM3 (GM/T 0006-2012)."""
    [root] = grouped["sm2-root"]
    root_cert = x509.load_pem_x509_certificate(root["pem"].encode())
    assert root_cert.subject == root_cert.issuer
    assert openssl_checks_signature(tmp, root["pem"], root["pem"])
    [service_ca] = grouped["sm2-service-ca"]
    [seal_ca] = grouped["sm2-seal-ca"]
    for ca in (service_ca, seal_ca):
        assert openssl_checks_signature(tmp, ca["pem"], root["pem"])
        assert not openssl_checks_signature(tmp, ca["pem"], ca["pem"])  # negative control
    assert sorted(entry["state"] for entry in grouped["sm2-licence"]) == ["active", "next"]
    for licence in grouped["sm2-licence"]:
        assert openssl_checks_signature(tmp, licence["pem"], service_ca["pem"])
        assert not openssl_checks_signature(tmp, licence["pem"], root["pem"])
    for entries in grouped.values():
        for entry in entries:
            if entry["purpose"].startswith("sm2-"):
                cert = x509.load_pem_x509_certificate(entry["pem"].encode())
                assert cert.signature_algorithm_oid.dotted_string == OID_SM2_WITH_SM3


def test_the_trust_bundle_publishes_the_sm2_hierarchy(sm2: Services, tmp_path: Path) -> None:
    response = TestClient(create_app(services=sm2)).get("/pki/trust")
    assert response.status_code == 200
    bundle = response.json()
    grouped = by_purpose(bundle)
    assert set(SM2_CERTIFIED_PURPOSES) <= set(grouped)
    assert "sm2-seal-maker" not in grouped and "sm2-seal" not in grouped  # carried in seals
    assert {"root", "seal-ca", "service-ca", "licence", "tsa"} <= set(grouped)  # still there
    for purpose in SM2_CERTIFIED_PURPOSES:
        published = {key.kid: key for key in sm2.keys.published(purpose)}
        assert {entry["kid"] for entry in grouped[purpose]} == set(published)
        for entry in grouped[purpose]:
            served = x509.load_pem_x509_certificate(entry["pem"].encode())
            assert served == published[entry["kid"]].certificate
    check_sm2_chain(tmp_path, grouped)
    assert bundle["audit_log"]["hash_algorithm"] == "SHA-256"


def test_without_the_sm2_hierarchy_nothing_sm2_is_published(services: Services) -> None:
    bundle = TestClient(create_app(services=services)).get("/pki/trust").json()
    assert not any(entry["purpose"].startswith("sm2-") for entry in bundle["certificates"])
    assert "root" in by_purpose(bundle)


def test_the_bundle_names_an_sm3_audit_tree(tmp_path: Path, clock: FrozenClock) -> None:
    built = sm2_services(tmp_path, clock, audit_hash="SM3")
    try:
        built.keys.init()
        bundle = TestClient(create_app(services=built)).get("/pki/trust").json()
    finally:
        built.close()
    assert bundle["audit_log"]["hash_algorithm"] == "SM3"


def test_export_trust_writes_the_sm2_root_to_pin(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVTRUST_SM2_ENABLED", "true")
    monkeypatch.setenv("GOVTRUST_AUDIT_HASH", "SM3")
    ok(runner, "keys", "init")
    out = tmp_path / "trust"
    written = {Path(path).name for path in ok(runner, "keys", "export-trust", str(out)).split()}
    assert {"root.pem", "sm2-root.pem", "trust.json"} <= written
    sm2_root = x509.load_pem_x509_certificate((out / "sm2-root.pem").read_bytes())
    root = x509.load_pem_x509_certificate((out / "root.pem").read_bytes())
    assert sm2_root.subject == sm2_root.issuer != root.subject
    assert sm2_root.signature_algorithm_oid.dotted_string == OID_SM2_WITH_SM3
    shown = openssl("x509", "-in", out / "sm2-root.pem", "-noout", "-subject").stdout
    assert "govtrust SM2 Root CA" in shown
    bundle = json.loads((out / "trust.json").read_text())
    grouped = by_purpose(bundle)
    assert grouped["sm2-root"][0]["pem"] == (out / "sm2-root.pem").read_text()
    for entry in grouped["sm2-licence"]:
        assert (out / f"{entry['kid']}.pem").read_text() == entry["pem"]
    check_sm2_chain(tmp_path, grouped)
    assert bundle["audit_log"]["hash_algorithm"] == "SM3"
