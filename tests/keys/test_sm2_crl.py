"""CRLs of the SM2 CAs (RFC 5280 §5, SM2-with-SM3) and the CRL distribution point in SM2
certificates (RFC 5280 §4.2.1.13), checked by Debian's openssl.

What openssl 3.0 can and cannot do here: ``openssl crl -text`` reads the CRL (version,
SM2-with-SM3, issuer, times, extensions, entries with reason codes); ``openssl crl -CAfile``
answers "verify failure" and ``openssl verify -crl_check`` cannot be used, because its X.509
code sets no SM2 distinguishing ID on the CA key (as for SM2 certificates). The signature is
therefore checked by openssl over the ``TBSCertList`` cut out by ``asn1parse``, with
``dgst -sm3 -sigopt distid:1234567812345678``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient

from core.app import create_app
from core.services import Services
from keys.algorithms import KeyType
from keys.backends.software import SoftwareBackend
from keys.crl import RevokedCertificate
from keys.master import MasterKeys
from keys.revocation import Revocation
from keys.sm2 import OID_SM2_WITH_SM3
from keys.sm2_certificates import Sm2CertificateError
from keys.sm2_crl import build_sm2_crl
from tests.conftest import FrozenClock
from tests.keys.sm2_services import asn1_certificate, sm2_services
from tests.keys.sm2_testpki import NOW, Sm2Issued, openssl, openssl_verify_sm2, sm2_issue, sm2_pki

DAY = dt.timedelta(days=1)


def openssl_checks_crl(tmp: Path, crl_der: bytes, issuer_public_pem: bytes) -> bool:
    """The CRL's SM2 signature checked by openssl: TBSCertList cut out by asn1parse."""
    (tmp / "list.crl").write_bytes(crl_der)
    listing = openssl("asn1parse", "-inform", "DER", "-in", tmp / "list.crl").stdout
    tbs_offset = listing.splitlines()[1].split(":")[0].strip()
    openssl(
        "asn1parse", "-inform", "DER", "-in", tmp / "list.crl", "-strparse", tbs_offset,
        "-noout", "-out", tmp / "tbs",
    )  # fmt: skip
    signature = asn1_crl.CertificateList.load(crl_der)["signature"].native
    return openssl_verify_sm2(tmp, issuer_public_pem, signature, (tmp / "tbs").read_bytes())


def openssl_text(tmp: Path, crl_der: bytes) -> str:
    (tmp / "text.crl").write_bytes(crl_der)
    return openssl("crl", "-inform", "DER", "-in", tmp / "text.crl", "-noout", "-text").stdout


def public_pem(issued: Sm2Issued) -> bytes:
    return issued.signer.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def test_an_sm2_crl_reads_and_verifies_in_openssl(tmp_path: Path) -> None:
    root, ca = sm2_pki()
    revoked = [
        RevokedCertificate(0x1234, NOW, x509.ReasonFlags.key_compromise),
        RevokedCertificate(0xABCDEF, NOW - DAY, x509.ReasonFlags.unspecified),
        RevokedCertificate(0x42, NOW - DAY),
    ]
    crl = build_sm2_crl(ca.certificate, ca.signer, revoked, number=7, this_update=NOW,
                        next_update=NOW + DAY)  # fmt: skip
    der = crl.dump()
    shown = openssl_text(tmp_path, der)
    assert "Version 2 (0x1)" in shown
    assert shown.count("Signature Algorithm: SM2-with-SM3") == 2
    assert "CN = SM2 Test Seal CA" in shown
    assert "Last Update: Nov 27 09:00:00 2026 GMT" in shown
    assert "Next Update: Nov 28 09:00:00 2026 GMT" in shown
    assert "X509v3 CRL Number: \n                7" in shown
    assert "X509v3 Authority Key Identifier" in shown
    assert "Serial Number: 1234" in shown and "Key Compromise" in shown
    assert shown.count("CRL Reason Code") == 1  # unspecified is an absent reasonCode (§5.3.1)
    assert openssl_checks_crl(tmp_path, der, public_pem(ca))
    assert not openssl_checks_crl(tmp_path, der, public_pem(root))  # another key: no
    tampered = der.replace(b"\x12\x34", b"\x12\x35", 1)
    assert not openssl_checks_crl(tmp_path, tampered, public_pem(ca))
    # cryptography reads it as well (the registry serves it through its CRL type)
    parsed = x509.load_der_x509_crl(der)
    assert parsed.signature_algorithm_oid.dotted_string == OID_SM2_WITH_SM3
    assert {entry.serial_number for entry in parsed} == {0x1234, 0xABCDEF, 0x42}
    aki = parsed.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca.certificate.key_identifier


def test_an_empty_sm2_crl_has_no_revoked_list(tmp_path: Path) -> None:
    root, _ = sm2_pki()
    crl = build_sm2_crl(root.certificate, root.signer, [], number=0, this_update=NOW,
                        next_update=NOW + DAY)  # fmt: skip
    assert crl["tbs_cert_list"].native["revoked_certificates"] is None  # absent (§5.1.2.6)
    assert "No Revoked Certificates." in openssl_text(tmp_path, crl.dump())
    assert openssl_checks_crl(tmp_path, crl.dump(), public_pem(root))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"next_update": NOW}, "next_update"),
        ({"number": -1}, "CRL number"),
        ({"number": 1 << 160}, "CRL number"),
        ({"revoked": [RevokedCertificate(1, NOW), RevokedCertificate(1, NOW)]}, "twice"),
        ({"revoked": [RevokedCertificate(1, NOW, x509.ReasonFlags.remove_from_crl)]}, "delta"),
        ({"signer": "other"}, "not the issuer certificate's key"),
        ({"issuer": "leaf"}, "cRLSign"),
    ],
)
def test_bad_sm2_crl_requests_are_refused(change: dict[str, object], message: str) -> None:
    root, ca = sm2_pki()
    leaf = sm2_issue("leaf", ca)  # an end-entity certificate: no cRLSign
    args: dict[str, object] = {
        "issuer": ca.certificate,
        "signer": ca.signer,
        "revoked": [],
        "number": 1,
        "this_update": NOW,
        "next_update": NOW + DAY,
    }
    args.update(change)
    if args["signer"] == "other":
        args["signer"] = root.signer
    if args["issuer"] == "leaf":
        args["issuer"], args["signer"] = leaf.certificate, leaf.signer
    with pytest.raises(ValueError, match=message):
        build_sm2_crl(**args)  # type: ignore[arg-type]


def test_a_non_sm2_signer_is_refused() -> None:
    backend = SoftwareBackend(MasterKeys(b"\x01" * 32))
    ec = backend.load(KeyType.EC_P256, backend.generate(KeyType.EC_P256, "ec"), "ec")
    _, ca = sm2_pki()
    with pytest.raises(Sm2CertificateError):
        build_sm2_crl(ca.certificate, ec, [], number=1, this_update=NOW, next_update=NOW + DAY)


# ------------------------------------------------------------------ through the registry


@pytest.fixture
def sm2(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, clock: FrozenClock
) -> Iterator[Services]:
    built = sm2_services(tmp_path, clock, backend, request)
    built.keys.init()
    yield built
    built.close()


def only(services: Services, purpose: str, state: str = "active") -> str:
    [kid] = [k.kid for k in services.keys.list_keys(purpose) if k.state == state]
    return kid


def crl_url(services: Services, kid: str) -> str | None:
    certificate = services.keys.key(kid).certificate
    assert certificate is not None
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    except x509.ExtensionNotFound:
        return None
    [point] = points.value
    assert point.full_name is not None
    [name] = point.full_name
    return str(name.value)


def test_sm2_certificates_name_their_ca_crl(sm2: Services) -> None:
    base = "https://govtrust.test/pki/crl/"
    root, service_ca, seal_ca = (
        only(sm2, "sm2-root"),
        only(sm2, "sm2-service-ca"),
        only(sm2, "sm2-seal-ca"),
    )
    assert crl_url(sm2, root) is None  # a trust anchor names no CRL of its own
    assert crl_url(sm2, service_ca) == crl_url(sm2, seal_ca) == f"{base}{root}.crl"
    assert crl_url(sm2, only(sm2, "sm2-licence")) == f"{base}{service_ca}.crl"
    assert crl_url(sm2, only(sm2, "sm2-seal-maker")) == f"{base}{seal_ca}.crl"


def test_a_revoked_sm2_certificate_is_on_its_ca_crl(sm2: Services, tmp_path: Path) -> None:
    service_ca = only(sm2, "sm2-service-ca")
    licence = only(sm2, "sm2-licence", "next")
    serial = asn1_certificate(sm2, licence).serial_number
    Revocation(sm2.keys).revoke(service_ca, serial, x509.ReasonFlags.superseded, actor="test")
    client = TestClient(create_app(services=sm2))
    url = crl_url(sm2, licence)
    assert url is not None
    response = client.get(url.removeprefix("https://govtrust.test"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pkix-crl"
    der = response.content
    ca_key = sm2.keys.key(service_ca).public_key
    ca_pem = ca_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    assert openssl_checks_crl(tmp_path, der, ca_pem)
    shown = openssl_text(tmp_path, der)
    assert f"Serial Number: {serial:X}" in shown or f"Serial Number: 0{serial:X}" in shown
    assert "Superseded" in shown and "SM2-with-SM3" in shown
    parsed = x509.load_der_x509_crl(der)
    assert [entry.serial_number for entry in parsed] == [serial]
    # the root's CRL: nothing revoked, signed by the root
    root = only(sm2, "sm2-root")
    root_der = client.get(f"/pki/crl/{root}.crl").content
    root_pem = sm2.keys.key(root).public_key.public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    assert openssl_checks_crl(tmp_path, root_der, root_pem)
    assert not openssl_checks_crl(tmp_path, root_der, ca_pem)
    assert "No Revoked Certificates." in openssl_text(tmp_path, root_der)
    # the SM2 CAs stay out of the international validation context
    assert not any(
        ca.purpose.startswith("sm2-") for ca in Revocation(sm2.keys).certificate_authorities()
    )
