"""The PKI over HTTP (keys/router.py), with Debian's ``openssl`` as the relying party.

Everything a relying party sees comes through the app (``TestClient``): CA certificates,
CRLs, OCSP (POST and GET), timestamps, the JWKS and the trust bundle; ``openssl`` then
checks it on its own. Only the leaf certificates (licence, TSA) come from the registry, as
the service hands them out with what they sign.

Time: the registry runs on the frozen ``clock`` (2026-11-27 09:00 UTC), so certificates
start at 08:55 and CRLs, OCSP answers and timestamps are dated 09:00. ``openssl`` would
compare them with the real time, which may be before that instant (the certificates are
then "not yet valid") or long after it (the CRL "has expired"). So every chain check runs
with ``-attime`` at the frozen instant, and ``openssl ocsp`` (which compares
thisUpdate/nextUpdate with the real time regardless of ``-attime``) gets a
``-validity_period`` widened by the distance between the real time and the frozen one:
the tests mean the same thing on any day they run.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from fastapi.testclient import TestClient

from core.app import create_app
from core.services import Services
from keys.registry import KeyInfo
from keys.revocation import Revocation
from tests.conftest import FrozenClock
from tests.keys.testpki import issue
from tests.keys.testpki import test_pki as make_pki

BASE = "https://govtrust.test"
PROBLEM = "application/problem+json"
Status = ocsp.OCSPResponseStatus


def openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False
    )


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(Encoding.PEM)


def registry_keys(services: Services, purpose: str | None = None) -> list[KeyInfo]:
    """Every key of ``purpose`` in the registry (``list_keys``, formerly ``keys``)."""
    registry = services.keys
    lister = getattr(registry, "list_keys", None) or registry.keys  # type: ignore[attr-defined]
    return list(lister(purpose))


def active(services: Services, purpose: str) -> KeyInfo:
    (key,) = [key for key in registry_keys(services, purpose) if key.state == "active"]
    return key


@dataclass
class Pki:
    """The app, the frozen clock, and a working directory for openssl."""

    services: Services
    client: TestClient
    clock: FrozenClock
    dir: Path

    @property
    def attime(self) -> str:
        return str(int(self.clock.now.timestamp()))

    @property
    def skew(self) -> str:
        return str(int(abs(time.time() - self.clock.now.timestamp())) + 300)

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return openssl(*args, cwd=self.dir)

    def kid(self, purpose: str) -> str:
        return active(self.services, purpose).kid

    def fetch_ca(self, purpose: str, name: str | None = None) -> x509.Certificate:
        """GET the CA certificate; write it as ``<name>.pem`` converted by openssl."""
        name = name or purpose
        response = self.client.get(f"/pki/ca/{self.kid(purpose)}.crt")
        assert response.status_code == 200, response.text
        (self.dir / f"{name}.crt").write_bytes(response.content)
        converted = self.run("x509", "-inform", "DER", "-in", f"{name}.crt", "-out", f"{name}.pem")
        assert converted.returncode == 0, converted.stderr
        return x509.load_der_x509_certificate(response.content)

    def leaf(self, purpose: str) -> x509.Certificate:
        """The active key's certificate, as its signer hands it out, written as a PEM."""
        certificate = self.services.keys.signer(purpose).certificate_chain()[0]
        (self.dir / f"{purpose}.pem").write_bytes(pem(certificate))
        return certificate

    def revoke_licence(self) -> x509.Certificate:
        licence = self.leaf("licence")
        self.clock.advance(minutes=1)
        Revocation(self.services.keys).revoke(
            self.kid("service-ca"), licence.serial_number, x509.ReasonFlags.key_compromise
        )
        return licence

    def fetch_crl(self, name: str = "crl") -> x509.CertificateRevocationList:
        response = self.client.get(f"/pki/crl/{self.kid('service-ca')}.crl")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/pkix-crl"
        assert response.headers["cache-control"] == "public, max-age=300"
        (self.dir / f"{name}.crl").write_bytes(response.content)
        converted = self.run("crl", "-inform", "DER", "-in", f"{name}.crl", "-out", f"{name}.pem")
        assert converted.returncode == 0, converted.stderr
        return x509.load_der_x509_crl(response.content)

    def verify(self, leaf: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(
            "verify", "-attime", self.attime, "-CAfile", "root.pem", *args, f"{leaf}.pem"
        )


@pytest.fixture
def pki(services: Services, clock: FrozenClock, tmp_path: Path) -> Pki:
    return Pki(services, TestClient(create_app(services=services)), clock, tmp_path)


def assert_problem(response: httpx.Response, status: int | None = None) -> None:
    if status is None:
        assert 400 <= response.status_code < 500, response.status_code
    else:
        assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == response.status_code
    assert body["title"]


# -- 1. CA certificates --------------------------------------------------------------------


@pytest.mark.parametrize("purpose", ["root", "seal-ca", "service-ca"])
def test_ca_certificates_are_served_as_der(pki: Pki, purpose: str) -> None:
    response = pki.client.get(f"/pki/ca/{pki.kid(purpose)}.crt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pkix-cert"
    assert response.headers["cache-control"] == "public, max-age=86400"
    served = x509.load_der_x509_certificate(response.content)
    assert served == active(pki.services, purpose).certificate
    assert served.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.mark.parametrize("purpose", ["licence", "tsa"])
def test_openssl_verifies_the_service_certificates_to_the_served_root(
    pki: Pki, purpose: str
) -> None:
    root = pki.fetch_ca("root")
    service_ca = pki.fetch_ca("service-ca")
    pki.fetch_ca("seal-ca")
    chain = pki.services.keys.signer(purpose).certificate_chain()
    leaf = pki.leaf(purpose)
    assert chain == [leaf, service_ca, root]

    result = pki.verify(purpose, "-untrusted", "service-ca.pem")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{purpose}.pem: OK" in result.stdout

    # the wrong intermediate (the seal CA) does not lead to the root
    wrong = pki.verify(purpose, "-untrusted", "seal-ca.pem")
    assert wrong.returncode != 0
    assert "unable to get local issuer certificate" in wrong.stdout + wrong.stderr
    # nor does a foreign root
    foreign_root, _ = make_pki()
    (pki.dir / "foreign.pem").write_bytes(foreign_root.pem())
    foreign = pki.run(
        "verify", "-attime", pki.attime, "-CAfile", "foreign.pem",
        "-untrusted", "service-ca.pem", f"{purpose}.pem",
    )  # fmt: skip
    assert foreign.returncode != 0


def test_key_usages(pki: Pki) -> None:
    seal_ca = pki.fetch_ca("seal-ca")
    usage = seal_ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert seal_ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    shown = pki.run("x509", "-in", "seal-ca.pem", "-noout", "-text").stdout
    assert "Certificate Sign, CRL Sign" in shown
    assert "CA:TRUE" in shown

    licence = pki.leaf("licence")
    usage = licence.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign and not usage.value.crl_sign
    assert not licence.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    tsa = pki.leaf("tsa")
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert not tsa.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    with pytest.raises(x509.ExtensionNotFound):
        licence.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


def test_every_issued_certificate_points_at_its_issuer(pki: Pki) -> None:
    checked = set()
    for purpose in ("seal-ca", "service-ca", "licence", "tsa"):
        for key in registry_keys(pki.services, purpose):
            assert key.certificate is not None and key.issuer_kid is not None
            certificate = key.certificate
            issuer = pki.services.keys.signer_by_kid(key.issuer_kid).info.certificate
            assert issuer is not None and certificate.issuer == issuer.subject
            points = certificate.extensions.get_extension_for_class(
                x509.CRLDistributionPoints
            ).value
            urls = [name.value for point in points for name in point.full_name or []]
            assert urls == [f"{BASE}/pki/crl/{key.issuer_kid}.crl"]
            access = certificate.extensions.get_extension_for_class(
                x509.AuthorityInformationAccess
            ).value
            by_method = {
                method: [d.access_location.value for d in access if d.access_method == method]
                for method in (
                    AuthorityInformationAccessOID.OCSP,
                    AuthorityInformationAccessOID.CA_ISSUERS,
                )
            }
            assert by_method[AuthorityInformationAccessOID.OCSP] == [f"{BASE}/pki/ocsp"]
            ca_issuers = by_method[AuthorityInformationAccessOID.CA_ISSUERS]
            assert ca_issuers == [f"{BASE}/pki/ca/{key.issuer_kid}.crt"]

            # follow them: the issuer's certificate and a CRL signed by the issuer
            fetched = pki.client.get(urlsplit(ca_issuers[0]).path)
            assert fetched.status_code == 200
            assert x509.load_der_x509_certificate(fetched.content) == issuer
            crl = pki.client.get(urlsplit(urls[0]).path)
            assert crl.status_code == 200
            assert x509.load_der_x509_crl(crl.content).is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
            checked.add(purpose)
    assert checked == {"seal-ca", "service-ca", "licence", "tsa"}

    root = active(pki.services, "root").certificate
    assert root is not None
    for absent in (x509.CRLDistributionPoints, x509.AuthorityInformationAccess):
        with pytest.raises(x509.ExtensionNotFound):
            root.extensions.get_extension_for_class(absent)


@pytest.mark.parametrize("route", ["ca", "crl"])
def test_a_kid_that_is_no_ca_is_not_found(pki: Pki, route: str) -> None:
    suffix = "crt" if route == "ca" else "crl"
    for kid in ("root-20260101-deadbeef", pki.kid("licence"), pki.kid("token")):
        assert_problem(pki.client.get(f"/pki/{route}/{kid}.{suffix}"), 404)
    assert pki.client.get(f"/pki/{route}/{pki.kid('seal-ca')}.{suffix}").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/pki/ca/..%2Fetc.crt",
        "/pki/ca/..%2F..%2Fetc%2Fpasswd.crt",
        "/pki/ca/ROOT.crt",
        "/pki/ca/%00.crt",
        "/pki/ca/" + "a" * 65 + ".crt",
        "/pki/crl/..%2Fetc.crl",
        "/pki/crl/SERVICE-CA.crl",
    ],
)
def test_a_malformed_kid_is_a_client_error(pki: Pki, path: str) -> None:
    assert_problem(pki.client.get(path))


def test_an_uppercase_kid_is_refused_although_the_lowercase_one_exists(pki: Pki) -> None:
    kid = pki.kid("root")
    assert pki.client.get(f"/pki/ca/{kid}.crt").status_code == 200
    assert_problem(pki.client.get(f"/pki/ca/{kid.upper()}.crt"))


# -- 2. CRL --------------------------------------------------------------------------------


def test_openssl_verifies_the_crl_and_sees_the_revocation(pki: Pki) -> None:
    pki.fetch_ca("root")
    service_ca = pki.fetch_ca("service-ca")
    (pki.dir / "chain.pem").write_bytes(
        (pki.dir / "root.pem").read_bytes() + (pki.dir / "service-ca.pem").read_bytes()
    )
    licence = pki.leaf("licence")

    crl = pki.fetch_crl("before")
    assert crl.issuer == service_ca.subject
    assert crl.get_revoked_certificate_by_serial_number(licence.serial_number) is None
    checked = pki.run(
        "crl", "-inform", "DER", "-in", "before.crl", "-CAfile", "chain.pem", "-noout", "-verify"
    )
    assert "verify OK" in checked.stdout + checked.stderr, checked.stdout + checked.stderr
    # a CRL checked against the wrong CA does not verify
    pki.fetch_ca("seal-ca")
    wrong = pki.run(
        "crl", "-inform", "DER", "-in", "before.crl", "-CAfile", "seal-ca.pem", "-noout", "-verify"
    )
    assert "verify OK" not in wrong.stdout + wrong.stderr

    good = pki.verify("licence", "-crl_check", "-CRLfile", "before.pem", "-untrusted",
                      "service-ca.pem")  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    assert "licence.pem: OK" in good.stdout

    pki.revoke_licence()
    after = pki.fetch_crl("after")
    entry = after.get_revoked_certificate_by_serial_number(licence.serial_number)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    assert entry.revocation_date_utc == pki.clock.now.replace(microsecond=0)
    number = x509.CRLNumber
    assert (
        after.extensions.get_extension_for_class(number).value.crl_number
        > crl.extensions.get_extension_for_class(number).value.crl_number
    )
    checked = pki.run(
        "crl", "-inform", "DER", "-in", "after.crl", "-CAfile", "chain.pem", "-noout", "-verify"
    )
    assert "verify OK" in checked.stdout + checked.stderr
    text = pki.run("crl", "-in", "after.pem", "-noout", "-text").stdout
    listed = [int(serial, 16) for serial in re.findall(r"Serial Number: ([0-9A-F]+)", text)]
    assert listed == [licence.serial_number]
    assert "Key Compromise" in text

    revoked = pki.verify("licence", "-crl_check", "-CRLfile", "after.pem", "-untrusted",
                         "service-ca.pem")  # fmt: skip
    assert revoked.returncode != 0
    assert "certificate revoked" in revoked.stdout + revoked.stderr
    # the TSA certificate, issued by the same CA, is still fine under the new CRL
    pki.leaf("tsa")
    tsa = pki.verify("tsa", "-crl_check", "-CRLfile", "after.pem", "-untrusted", "service-ca.pem")
    assert tsa.returncode == 0, tsa.stdout + tsa.stderr


def test_a_revocation_within_the_same_second_gives_a_higher_crl_number(pki: Pki) -> None:
    before = pki.fetch_crl("before")
    licence = pki.leaf("licence")
    Revocation(pki.services.keys).revoke(
        pki.kid("service-ca"), licence.serial_number, x509.ReasonFlags.key_compromise
    )
    after = pki.fetch_crl("after")
    assert list(before) != list(after)  # different content ...
    number = x509.CRLNumber  # ... so RFC 5280 §5.2.3 wants a higher number
    assert (
        after.extensions.get_extension_for_class(number).value.crl_number
        > before.extensions.get_extension_for_class(number).value.crl_number
    )


# -- 3. OCSP -------------------------------------------------------------------------------


def ocsp_request(pki: Pki, issuer: str, cert: str, *args: str, out: str = "req.der") -> bytes:
    result = pki.run("ocsp", "-issuer", issuer, *args, "-cert", cert, "-reqout", out)
    assert result.returncode == 0, result.stderr
    return (pki.dir / out).read_bytes()


def post_ocsp(pki: Pki, body: bytes, out: str = "resp.der") -> bytes:
    response = pki.client.post(
        "/pki/ocsp", content=body, headers={"content-type": "application/ocsp-request"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    (pki.dir / out).write_bytes(response.content)
    return response.content


def check_ocsp(pki: Pki, *digest: str, response: str = "resp.der", request: str = "req.der") -> str:
    """``openssl ocsp`` verifies the response twice: against the request it answers (the
    nonce must be echoed), then for the licence certificate (``-cert`` makes openssl build
    a request of its own, so ``-no_nonce``, and must hash the CertID as the request did);
    returns what the second run prints."""
    common = ("-CAfile", "root_plus_chain.pem", "-attime", pki.attime,
              "-validity_period", pki.skew)  # fmt: skip
    for args in (
        ("-reqin", request),
        ("-issuer", "service-ca.pem", *digest, "-cert", "licence.pem", "-no_nonce"),
    ):
        result = pki.run("ocsp", "-respin", response, *args, *common)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "Response verify OK" in output
        assert "WARNING" not in output
    return result.stdout


@pytest.fixture
def ocsp_pki(pki: Pki) -> Pki:
    pki.fetch_ca("root")
    pki.fetch_ca("service-ca")
    (pki.dir / "root_plus_chain.pem").write_bytes(
        (pki.dir / "root.pem").read_bytes() + (pki.dir / "service-ca.pem").read_bytes()
    )
    pki.leaf("licence")
    return pki


@pytest.mark.parametrize("digest", [(), ("-sha256",)], ids=["sha1", "sha256"])
def test_openssl_sees_good_then_revoked_over_post(ocsp_pki: Pki, digest: tuple[str, ...]) -> None:
    pki = ocsp_pki
    request = ocsp_request(pki, "service-ca.pem", "licence.pem", "-nonce", *digest)
    response = post_ocsp(pki, request)
    output = check_ocsp(pki, *digest)
    assert "licence.pem: good" in output
    parsed = ocsp.load_der_ocsp_response(response)
    assert parsed.response_status is Status.SUCCESSFUL
    assert parsed.hash_algorithm.name == ("sha256" if digest else "sha1")
    sent = ocsp.load_der_ocsp_request(request).extensions.get_extension_for_class(x509.OCSPNonce)
    echoed = parsed.extensions.get_extension_for_class(x509.OCSPNonce)
    assert echoed.value.nonce == sent.value.nonce
    # signed by the service CA's delegated responder
    (delegate,) = [
        key
        for key in registry_keys(pki.services, "ocsp")
        if key.issuer_kid == pki.kid("service-ca") and key.state == "active"
    ]
    assert parsed.certificates == [delegate.certificate]

    licence = pki.revoke_licence()
    ocsp_request(pki, "service-ca.pem", "licence.pem", "-nonce", *digest)
    post_ocsp(pki, (pki.dir / "req.der").read_bytes())
    output = check_ocsp(pki, *digest)
    assert "licence.pem: revoked" in output
    assert "Reason: keyCompromise" in output
    parsed = ocsp.load_der_ocsp_response((pki.dir / "resp.der").read_bytes())
    assert parsed.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert parsed.serial_number == licence.serial_number
    assert parsed.revocation_reason is x509.ReasonFlags.key_compromise


def test_openssl_rejects_an_answer_to_another_request(ocsp_pki: Pki) -> None:
    pki = ocsp_pki
    post_ocsp(pki, ocsp_request(pki, "service-ca.pem", "licence.pem", "-nonce"))
    ocsp_request(pki, "service-ca.pem", "licence.pem", "-nonce", out="other.der")
    result = pki.run(
        "ocsp", "-respin", "resp.der", "-reqin", "other.der", "-CAfile", "root_plus_chain.pem",
        "-attime", pki.attime, "-validity_period", pki.skew,
    )  # fmt: skip
    assert "Nonce Verify error" in result.stdout + result.stderr


def get_ocsp(pki: Pki, request: bytes, out: str = "get.der") -> bytes:
    encoded = quote(base64.b64encode(request).decode(), safe="")
    response = pki.client.get(f"/pki/ocsp/{encoded}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    (pki.dir / out).write_bytes(response.content)
    return response.content


def test_the_get_form_gives_the_same_status(ocsp_pki: Pki) -> None:
    pki = ocsp_pki
    request = ocsp_request(pki, "service-ca.pem", "licence.pem", "-nonce", "-sha256")
    by_get = ocsp.load_der_ocsp_response(get_ocsp(pki, request))
    by_post = ocsp.load_der_ocsp_response(post_ocsp(pki, request))
    assert by_get.response_status is by_post.response_status is Status.SUCCESSFUL
    assert by_get.certificate_status is by_post.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert "licence.pem: good" in check_ocsp(pki, "-sha256", response="get.der")

    pki.revoke_licence()
    request = ocsp_request(pki, "service-ca.pem", "licence.pem", "-nonce")
    by_get = ocsp.load_der_ocsp_response(get_ocsp(pki, request))
    assert by_get.certificate_status is ocsp.OCSPCertStatus.REVOKED
    output = check_ocsp(pki, response="get.der")
    assert "licence.pem: revoked" in output
    assert "Reason: keyCompromise" in output


def test_the_get_form_with_unescaped_base64_and_url_safe_alphabet(ocsp_pki: Pki) -> None:
    pki = ocsp_pki
    request = ocsp_request(pki, "service-ca.pem", "licence.pem", "-no_nonce")
    for text in (
        base64.b64encode(request).decode(),  # '/' and '+' left as they are
        base64.urlsafe_b64encode(request).decode().rstrip("="),
    ):
        response = pki.client.get(f"/pki/ocsp/{text}")
        assert response.status_code == 200
        parsed = ocsp.load_der_ocsp_response(response.content)
        assert parsed.response_status is Status.SUCCESSFUL
        assert parsed.certificate_status is ocsp.OCSPCertStatus.GOOD


def test_a_certificate_of_a_foreign_ca_is_unauthorized(ocsp_pki: Pki) -> None:
    pki = ocsp_pki
    _, foreign_ca = make_pki()
    foreign_ca.write(pki.dir / "foreign-ca.pem")
    issue("stranger", foreign_ca).write(pki.dir / "stranger.pem")
    request = ocsp_request(pki, "foreign-ca.pem", "stranger.pem", "-nonce")
    response = ocsp.load_der_ocsp_response(post_ocsp(pki, request))
    assert response.response_status is Status.UNAUTHORIZED
    response = ocsp.load_der_ocsp_response(get_ocsp(pki, request))
    assert response.response_status is Status.UNAUTHORIZED
    # the licence's issuer name with the seal CA's key (openssl takes the name from the
    # certificate, the key from -issuer): no served CA has both, so unauthorized too
    pki.fetch_ca("seal-ca")
    request = ocsp_request(pki, "seal-ca.pem", "licence.pem", "-no_nonce")
    response = ocsp.load_der_ocsp_response(post_ocsp(pki, request))
    assert response.response_status is Status.UNAUTHORIZED
    # the seal CA is served, but it never issued the licence's serial: unknown
    serial = f"{pki.leaf('licence').serial_number:#x}"
    made = pki.run("ocsp", "-issuer", "seal-ca.pem", "-serial", serial, "-reqout", "seal.der")
    assert made.returncode == 0, made.stderr
    response = ocsp.load_der_ocsp_response(post_ocsp(pki, (pki.dir / "seal.der").read_bytes()))
    assert response.response_status is Status.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.UNKNOWN


@pytest.mark.parametrize("body", [b"", b"garbage", b"\x30\x03\x02\x01\x00"])
def test_a_garbage_request_is_malformed(pki: Pki, body: bytes) -> None:
    response = ocsp.load_der_ocsp_response(post_ocsp(pki, body))
    assert response.response_status is Status.MALFORMED_REQUEST
    parsed = pki.run("ocsp", "-respin", "resp.der", "-resp_text", "-noverify")
    assert "malformedrequest" in (parsed.stdout + parsed.stderr).lower()


@pytest.mark.parametrize("path", ["garbage", "not%20base64!", "AAAA"])
def test_a_garbage_get_request_is_malformed(pki: Pki, path: str) -> None:
    response = pki.client.get(f"/pki/ocsp/{path}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    status = ocsp.load_der_ocsp_response(response.content).response_status
    assert status is Status.MALFORMED_REQUEST


@pytest.mark.parametrize(
    "content_type", [None, "application/octet-stream", "application/timestamp-query"]
)
def test_ocsp_needs_its_media_type(ocsp_pki: Pki, content_type: str | None) -> None:
    pki = ocsp_pki
    request = ocsp_request(pki, "service-ca.pem", "licence.pem", "-no_nonce")
    headers = {} if content_type is None else {"content-type": content_type}
    assert_problem(pki.client.post("/pki/ocsp", content=request, headers=headers), 415)
    # the same body with the right type, and with a parameter, is answered
    for right in ("application/ocsp-request", "application/ocsp-request; charset=binary"):
        answered = pki.client.post("/pki/ocsp", content=request, headers={"content-type": right})
        assert answered.status_code == 200
        assert ocsp.load_der_ocsp_response(answered.content).response_status is Status.SUCCESSFUL


def test_the_ca_certificates_themselves_are_answered_by_the_root_responder(
    ocsp_pki: Pki,
) -> None:
    pki = ocsp_pki
    request = ocsp_request(pki, "root.pem", "service-ca.pem", "-nonce")
    result = ocsp.load_der_ocsp_response(post_ocsp(pki, request))
    assert result.response_status is Status.SUCCESSFUL
    assert result.certificate_status is ocsp.OCSPCertStatus.GOOD
    root_delegate = [
        key.certificate
        for key in registry_keys(pki.services, "ocsp")
        if key.issuer_kid == pki.kid("root") and key.state == "active"
    ]
    assert result.certificates == root_delegate
    checked = pki.run(
        "ocsp", "-respin", "resp.der", "-reqin", "req.der", "-CAfile", "root.pem",
        "-attime", pki.attime, "-validity_period", pki.skew,
    )  # fmt: skip
    assert "Response verify OK" in checked.stderr, checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("path", "media"),
    [("/pki/ocsp", "Application/OCSP-Request"), ("/pki/tsa", "APPLICATION/TIMESTAMP-QUERY")],
)
def test_media_types_are_case_insensitive(pki: Pki, path: str, media: str) -> None:
    response = pki.client.post(path, content=b"garbage", headers={"content-type": media})
    assert response.status_code == 200


# -- 4. TSA --------------------------------------------------------------------------------


@pytest.fixture
def tsa_pki(pki: Pki) -> Pki:
    pki.fetch_ca("root")
    pki.fetch_ca("service-ca")
    pki.leaf("tsa")
    (pki.dir / "untrusted.pem").write_bytes(
        (pki.dir / "service-ca.pem").read_bytes() + (pki.dir / "tsa.pem").read_bytes()
    )
    (pki.dir / "data.txt").write_bytes(b"an approval result to timestamp\n")
    (pki.dir / "other.txt").write_bytes(b"an approval result to timestamq\n")
    return pki


def ts_query(pki: Pki) -> bytes:
    made = pki.run("ts", "-query", "-data", "data.txt", "-sha256", "-cert", "-out", "req.tsq")
    assert made.returncode == 0, made.stderr
    return (pki.dir / "req.tsq").read_bytes()


def ts_verify(pki: Pki, data: str) -> subprocess.CompletedProcess[str]:
    return pki.run(
        "ts", "-verify", "-data", data, "-in", "resp.tsr", "-CAfile", "root.pem",
        "-untrusted", "untrusted.pem", "-attime", pki.attime,
    )  # fmt: skip


def test_openssl_verifies_the_timestamp(tsa_pki: Pki) -> None:
    pki = tsa_pki
    response = pki.client.post(
        "/pki/tsa", content=ts_query(pki), headers={"content-type": "application/timestamp-query"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/timestamp-reply"
    (pki.dir / "resp.tsr").write_bytes(response.content)

    good = ts_verify(pki, "data.txt")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Verification: OK" in good.stdout

    bad = ts_verify(pki, "other.txt")
    assert bad.returncode != 0
    assert "Verification: FAILED" in bad.stdout

    text = pki.run("ts", "-reply", "-in", "resp.tsr", "-text").stdout
    assert "Status: Granted." in text
    assert f"Time stamp: {pki.clock.now:%b %d %H:%M:%S %Y} GMT" in text
    # the token names the TSA certificate the registry holds, and carries the chain
    certs = pki.run("ts", "-reply", "-in", "resp.tsr", "-token_out", "-out", "token.der")
    assert certs.returncode == 0, certs.stderr
    shown = pki.run("pkcs7", "-inform", "DER", "-in", "token.der", "-print_certs", "-noout").stdout
    tsa = pki.leaf("tsa")
    (common_name,) = tsa.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert f"CN = {common_name.value}" in shown


def test_openssl_refuses_the_timestamp_under_a_foreign_root(tsa_pki: Pki) -> None:
    pki = tsa_pki
    response = pki.client.post(
        "/pki/tsa", content=ts_query(pki), headers={"content-type": "application/timestamp-query"}
    )
    (pki.dir / "resp.tsr").write_bytes(response.content)
    foreign_root, _ = make_pki()
    foreign_root.write(pki.dir / "root.pem")
    refused = ts_verify(pki, "data.txt")
    assert refused.returncode != 0
    assert "Verification: FAILED" in refused.stdout


@pytest.mark.parametrize("content_type", [None, "application/ocsp-request", "text/plain"])
def test_the_tsa_needs_its_media_type(tsa_pki: Pki, content_type: str | None) -> None:
    pki = tsa_pki
    headers = {} if content_type is None else {"content-type": content_type}
    assert_problem(pki.client.post("/pki/tsa", content=ts_query(pki), headers=headers), 415)


def test_a_garbage_timestamp_query_is_rejected_not_failed(tsa_pki: Pki) -> None:
    pki = tsa_pki
    response = pki.client.post(
        "/pki/tsa", content=b"garbage", headers={"content-type": "application/timestamp-query"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/timestamp-reply"
    (pki.dir / "resp.tsr").write_bytes(response.content)
    text = pki.run("ts", "-reply", "-in", "resp.tsr", "-text").stdout
    assert "Status: Rejected." in text
    assert "wrong format" in text  # PKIFailureInfo badDataFormat


def test_an_oversized_body_is_refused(pki: Pki) -> None:
    for path, media in (
        ("/pki/ocsp", "application/ocsp-request"),
        ("/pki/tsa", "application/timestamp-query"),
    ):
        big = pki.client.post(path, content=b"\x30" * (64 * 1024 + 1),
                              headers={"content-type": media})  # fmt: skip
        assert_problem(big, 413)


# -- 5. JWKS and the trust bundle -----------------------------------------------------------


def token_keys(services: Services) -> dict[str, KeyInfo]:
    return {key.kid: key for key in registry_keys(services, "token")}


def assert_public_ec(jwk: dict[str, str], key: KeyInfo) -> None:
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256"
    assert jwk["alg"] == "ES256" and jwk["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(jwk)
    numbers = key.public_key.public_numbers()  # type: ignore[union-attr]
    assert base64.urlsafe_b64decode(jwk["x"] + "==") == numbers.x.to_bytes(32, "big")
    assert base64.urlsafe_b64decode(jwk["y"] + "==") == numbers.y.to_bytes(32, "big")


def get_jwks(pki: Pki) -> dict[str, dict[str, str]]:
    response = pki.client.get("/pki/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jwk-set+json"
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = json.loads(response.content)["keys"]
    by_kid = {jwk["kid"]: jwk for jwk in keys}
    assert len(by_kid) == len(keys)
    return by_kid


def jwk_verifies(jwk: dict[str, str], data: bytes, jws_signature: bytes) -> bool:
    x = int.from_bytes(base64.urlsafe_b64decode(jwk["x"] + "=="), "big")
    y = int.from_bytes(base64.urlsafe_b64decode(jwk["y"] + "=="), "big")
    public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    r, s = int.from_bytes(jws_signature[:32], "big"), int.from_bytes(jws_signature[32:], "big")
    try:
        public.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except Exception:
        return False
    return True


def test_the_jwks_has_the_active_and_the_next_key_then_keeps_the_retired_one(pki: Pki) -> None:
    keys = token_keys(pki.services)
    states = {key.state: kid for kid, key in keys.items()}
    assert sorted(states) == ["active", "next"]
    served = get_jwks(pki)
    assert set(served) == {states["active"], states["next"]}
    for kid, jwk in served.items():
        assert_public_ec(jwk, keys[kid])
    # a token signed now verifies with the published active key, not with the next one
    signature = pki.services.keys.signer("token").sign_jws(b"header.payload")
    assert jwk_verifies(served[states["active"]], b"header.payload", signature)
    assert not jwk_verifies(served[states["next"]], b"header.payload", signature)

    pki.clock.advance(minutes=1)
    now_active = pki.services.keys.rotate("token")
    assert now_active.kid == states["next"]
    keys = token_keys(pki.services)
    assert keys[states["active"]].state == "retired"
    (new_next,) = [kid for kid, key in keys.items() if key.state == "next"]
    served = get_jwks(pki)
    assert set(served) == {states["active"], states["next"], new_next}
    for kid, jwk in served.items():
        assert_public_ec(jwk, keys[kid])
    signature = pki.services.keys.signer("token").sign_jws(b"header.payload")
    assert jwk_verifies(served[states["next"]], b"header.payload", signature)

    # once its publication window is over, the retired key leaves the JWKS
    pki.clock.advance(days=2)
    assert set(get_jwks(pki)) == {states["next"], new_next}


def test_the_trust_bundle(pki: Pki) -> None:
    response = pki.client.get("/pki/trust")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    bundle = response.json()
    assert bundle["issuer"] == BASE

    by_kid = {entry["kid"]: entry for entry in bundle["certificates"]}
    expected = {
        key.kid
        for purpose in ("root", "seal-ca", "service-ca", "licence", "tsa")
        for key in pki.services.keys.published(purpose)
    }
    assert set(by_kid) == expected
    assert by_kid[pki.kid("root")]["purpose"] == "root"
    assert not any(entry["purpose"] in ("ocsp", "token", "audit") for entry in by_kid.values())
    registry = {key.kid: key for key in registry_keys(pki.services)}
    for kid, entry in by_kid.items():
        certificate = x509.load_pem_x509_certificate(entry["pem"].encode())
        assert certificate == registry[kid].certificate
        assert entry["state"] == registry[kid].state
        path = pki.dir / f"{kid}.pem"
        path.write_text(entry["pem"])
        shown = pki.run("x509", "-in", path.name, "-noout", "-subject")
        assert shown.returncode == 0, shown.stderr
    # the bundle alone is enough to verify the licence certificate
    (pki.dir / "root.pem").write_text(by_kid[pki.kid("root")]["pem"])
    (pki.dir / "service-ca.pem").write_text(by_kid[pki.kid("service-ca")]["pem"])
    (pki.dir / "licence.pem").write_text(by_kid[pki.kid("licence")]["pem"])
    verified = pki.verify("licence", "-untrusted", "service-ca.pem")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    assert bundle["jwks"] == {"keys": list(get_jwks(pki).values())}
    audit = bundle["audit_log"]
    assert audit["origin"] == "govtrust.test/audit"
    published = {
        key.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        for key in registry_keys(pki.services, "audit")
    }
    seen = set()
    for line in audit["verifier_keys"]:
        name, key_id, encoded = line.split("+", 2)
        assert name == audit["origin"] and len(bytes.fromhex(key_id)) == 4
        raw = base64.b64decode(encoded, validate=True)
        assert raw[0] == 1 and len(raw) == 33
        seen.add(raw[1:])
    assert seen == published
