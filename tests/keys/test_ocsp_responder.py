"""keys.ocsp_responder, with Debian's ``openssl ocsp`` as the independent client.

The responder's clock is frozen at ``CLOCK`` (inside the test PKI's validity). openssl
checks the signer's chain at ``-attime CLOCK``, but compares thisUpdate/nextUpdate with the
real time, so its ``-validity_period`` (allowed skew) is widened by the distance between
the real time and ``CLOCK``: the tests mean the same thing on any day they run.
"""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from keys.algorithms import KeyType, verify_signature
from keys.ocsp_responder import (
    CertificateStatus,
    OcspResponder,
    ResponderIdentity,
    get_request_from_path,
)
from tests.keys.testpki import NOW, OCSP_SIGNING, TIME_STAMPING, Issued, issue
from tests.keys.testpki import test_pki as make_pki

CLOCK = NOW + timedelta(minutes=5)
REVOKED_AT = NOW - timedelta(minutes=30)
NEVER_ISSUED = 0x1234ABCD
Status = ocsp.OCSPResponseStatus


def frozen_clock() -> datetime:
    return CLOCK


def fixed(now: datetime) -> Callable[[], datetime]:
    return lambda: now


def openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False
    )


def openssl_time(value: datetime) -> str:
    """How ``openssl ocsp`` prints a time (ASN1_TIME_print)."""
    return f"{value:%b} {value.day:2d} {value:%H:%M:%S} {value.year} GMT"


class MemoryStatus:
    """A StatusSource over a dict; ``fail`` makes it raise."""

    def __init__(self) -> None:
        self.known: dict[tuple[bytes, int], CertificateStatus] = {}
        self.fail = False

    def set(self, ca: Issued, leaf: Issued, status: CertificateStatus) -> None:
        self.known[
            (ca.certificate.fingerprint(hashes.SHA256()), leaf.certificate.serial_number)
        ] = status

    def status(self, issuer: x509.Certificate, serial: int) -> CertificateStatus | None:
        if self.fail:
            raise RuntimeError("status database unavailable")
        return self.known.get((issuer.fingerprint(hashes.SHA256()), serial))


@dataclass
class Env:
    key_type: KeyType
    root: Issued
    ca: Issued
    leaf: Issued
    delegate: Issued
    dir: Path
    source: MemoryStatus = field(default_factory=MemoryStatus)

    def identity(self, kind: Literal["delegated", "ca"] = "delegated") -> ResponderIdentity:
        signer = self.delegate if kind == "delegated" else self.ca
        return ResponderIdentity(self.ca.certificate, signer.certificate, signer.signer)

    def responder(self, kind: Literal["delegated", "ca"] = "delegated") -> OcspResponder:
        return OcspResponder([self.identity(kind)], self.source, frozen_clock)

    def request(self, *args: str, out: str = "req.der") -> bytes:
        result = openssl("ocsp", "-issuer", "ca.pem", *args, "-reqout", out, cwd=self.dir)
        assert result.returncode == 0, result.stderr
        return (self.dir / out).read_bytes()

    def check(self, response: bytes, *args: str) -> subprocess.CompletedProcess[str]:
        """``openssl ocsp`` reading ``response``: verifies it and prints the status."""
        (self.dir / "resp.der").write_bytes(response)
        skew = int(abs(time.time() - CLOCK.timestamp())) + 300
        return openssl(
            "ocsp", "-respin", "resp.der", "-issuer", "ca.pem", "-CAfile", "root_and_ca.pem",
            "-attime", str(int(CLOCK.timestamp())), "-validity_period", str(skew), *args,
            cwd=self.dir,
        )  # fmt: skip


@pytest.fixture(params=[KeyType.EC_P256, KeyType.RSA_2048], ids=lambda k: k.value)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Env:
    root, ca = make_pki(request.param)
    leaf = issue("leaf", ca, key_type=request.param)
    delegate = issue(
        "OCSP responder", ca, eku=[OCSP_SIGNING], ocsp_nocheck=True, key_type=request.param
    )
    ca.write(tmp_path / "ca.pem")
    leaf.write(tmp_path / "leaf.pem")
    (tmp_path / "root_and_ca.pem").write_bytes(root.pem() + ca.pem())
    return Env(request.param, root, ca, leaf, delegate, tmp_path)


def assert_verified(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Response verify OK" in result.stderr
    assert "WARNING" not in result.stdout + result.stderr


@pytest.mark.parametrize("digest", ["-sha1", "-sha256"])
@pytest.mark.parametrize("kind", ["delegated", "ca"])
def test_openssl_sees_good_then_revoked(
    env: Env, kind: Literal["delegated", "ca"], digest: str
) -> None:
    responder = env.responder(kind)
    env.source.set(env.ca, env.leaf, CertificateStatus("good"))
    response = responder.respond(env.request(digest, "-cert", "leaf.pem"))
    result = env.check(response, "-no_nonce", digest, "-cert", "leaf.pem")
    assert_verified(result)
    assert "leaf.pem: good" in result.stdout

    parsed = ocsp.load_der_ocsp_response(response)
    signer = env.delegate if kind == "delegated" else env.ca
    assert parsed.hash_algorithm.name == digest[1:]
    assert parsed.serial_number == env.leaf.certificate.serial_number
    assert parsed.responder_name is None
    assert parsed.responder_key_hash == (
        x509.SubjectKeyIdentifier.from_public_key(signer.signer.public_key()).digest  # type: ignore[arg-type]
    )
    assert parsed.certificates == [signer.certificate]
    assert parsed.produced_at_utc == parsed.this_update_utc == CLOCK
    assert parsed.next_update_utc == CLOCK + timedelta(hours=1)

    reason = x509.ReasonFlags.key_compromise
    env.source.set(env.ca, env.leaf, CertificateStatus("revoked", REVOKED_AT, reason))
    response = responder.respond(env.request(digest, "-cert", "leaf.pem"))
    result = env.check(response, "-no_nonce", digest, "-cert", "leaf.pem")
    assert_verified(result)
    assert "leaf.pem: revoked" in result.stdout
    assert "Reason: keyCompromise" in result.stdout
    assert f"Revocation Time: {openssl_time(REVOKED_AT)}" in result.stdout


def test_a_serial_the_ca_never_issued_is_unknown(env: Env) -> None:
    serial = f"{NEVER_ISSUED:#x}"
    response = env.responder().respond(env.request("-serial", serial))
    result = env.check(response, "-no_nonce", "-serial", serial)
    assert_verified(result)
    assert f"{serial}: unknown" in result.stdout
    assert ocsp.load_der_ocsp_response(response).certificate_status is ocsp.OCSPCertStatus.UNKNOWN


def test_the_nonce_is_echoed(env: Env) -> None:
    responder = env.responder()
    env.source.set(env.ca, env.leaf, CertificateStatus("good"))
    request = env.request("-nonce", "-cert", "leaf.pem")
    response = responder.respond(request)
    sent = ocsp.load_der_ocsp_request(request).extensions.get_extension_for_class(x509.OCSPNonce)
    echoed = ocsp.load_der_ocsp_response(response).extensions.get_extension_for_class(
        x509.OCSPNonce
    )
    assert echoed.value.nonce == sent.value.nonce
    assert not echoed.critical

    # openssl compares the nonces of the request it is given and of the response
    assert_verified(env.check(response, "-reqin", "req.der"))
    env.request("-nonce", "-cert", "leaf.pem", out="other.der")
    assert "Nonce Verify error" in env.check(response, "-reqin", "other.der").stderr

    without = responder.respond(env.request("-no_nonce", "-cert", "leaf.pem"))
    assert len(ocsp.load_der_ocsp_response(without).extensions) == 0


def build_request(env: Env, *extensions: x509.Extension[x509.ExtensionType]) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        env.leaf.certificate, env.ca.certificate, hashes.SHA256()
    )
    for extension in extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.build().public_bytes(Encoding.DER)


def nonce(length: int) -> x509.Extension[x509.ExtensionType]:
    return x509.Extension(x509.OCSPNonce.oid, False, x509.OCSPNonce(b"\x5a" * length))


def status_of(response: bytes) -> Status:
    return ocsp.load_der_ocsp_response(response).response_status


@pytest.mark.parametrize(
    ("length", "expected"),
    [(0, Status.MALFORMED_REQUEST), (1, Status.SUCCESSFUL), (32, Status.SUCCESSFUL),
     (33, Status.MALFORMED_REQUEST), (128, Status.MALFORMED_REQUEST)],
)  # fmt: skip
def test_rfc_8954_nonce_length(env: Env, length: int, expected: Status) -> None:
    assert status_of(env.responder().respond(build_request(env, nonce(length)))) is expected


def test_an_issuer_this_responder_does_not_serve_is_unauthorized(env: Env) -> None:
    responder = env.responder()
    # another CA with the very same name: the name hash matches, the key hash does not
    _, twin = make_pki(env.key_type)
    assert twin.certificate.subject == env.ca.certificate.subject
    twin.write(env.dir / "twin.pem")
    issue("stranger", twin).write(env.dir / "stranger.pem")
    result = openssl(
        "ocsp", "-issuer", "twin.pem", "-cert", "stranger.pem", "-reqout", "x.der", cwd=env.dir
    )
    assert result.returncode == 0, result.stderr
    response = responder.respond((env.dir / "x.der").read_bytes())
    assert status_of(response) is Status.UNAUTHORIZED
    assert "unauthorized" in env.check(response).stdout + env.check(response).stderr

    # the right key hash under a wrong name hash
    real = ocsp.load_der_ocsp_request(build_request(env))
    wrong_name = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        b"\x00" * 32, real.issuer_key_hash, real.serial_number, hashes.SHA256()
    )
    request = wrong_name.build().public_bytes(Encoding.DER)
    assert status_of(responder.respond(request)) is Status.UNAUTHORIZED

    # a CertID hash this responder cannot compute
    assert status_of(responder.respond(env.request("-md5", "-cert", "leaf.pem"))) is (
        Status.UNAUTHORIZED
    )
    # while SHA-384 is matched like SHA-1 and SHA-256
    assert status_of(responder.respond(env.request("-sha384", "-cert", "leaf.pem"))) is (
        Status.SUCCESSFUL
    )


def test_bad_requests_are_malformed(env: Env) -> None:
    responder = env.responder()
    good = env.request("-cert", "leaf.pem")
    issue("second leaf", env.ca).write(env.dir / "leaf2.pem")
    two = env.request("-cert", "leaf.pem", "-cert", "leaf2.pem", out="two.der")
    critical = x509.Extension(
        x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"),
        True,
        x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"),
    )
    for bad in (b"", b"garbage", good[:-1], good + b"\x00", b"\x30\x03\x02\x01\x00", two,
                build_request(env, critical)):  # fmt: skip
        assert status_of(responder.respond(bad)) is Status.MALFORMED_REQUEST, bad[:20]
    assert status_of(responder.respond(good)) is Status.SUCCESSFUL
    ignored = x509.Extension(critical.oid, False, critical.value)
    assert status_of(responder.respond(build_request(env, ignored))) is Status.SUCCESSFUL


def test_the_get_form(env: Env) -> None:
    request = env.request("-cert", "leaf.pem")
    encoded = base64.b64encode(request).decode()
    assert get_request_from_path(quote(encoded, safe="")) == request
    assert get_request_from_path(encoded) == request
    assert get_request_from_path(base64.urlsafe_b64encode(request).decode().rstrip("=")) == request
    # "+" is a base64 character, not a URL-encoded space
    assert get_request_from_path("%2B%2B%2B%2B%2F%2F%2F%2F") == b"\xfb\xef\xbe\xff\xff\xff"
    assert get_request_from_path("++++////") == b"\xfb\xef\xbe\xff\xff\xff"
    for bad in ("", "%%", "not base64!", "A", "%FF%FE"):
        with pytest.raises(ValueError):
            get_request_from_path(bad)

    responder = env.responder()
    env.source.set(env.ca, env.leaf, CertificateStatus("good"))
    response = responder.respond_to_path(quote(encoded, safe=""))
    assert ocsp.load_der_ocsp_response(response).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert status_of(responder.respond_to_path("not base64!")) is Status.MALFORMED_REQUEST


def test_the_signature_is_the_responders_and_covers_the_response(env: Env) -> None:
    env.source.set(env.ca, env.leaf, CertificateStatus("good"))
    response = env.responder().respond(env.request("-cert", "leaf.pem"))
    parsed = ocsp.load_der_ocsp_response(response)
    responder_key = env.delegate.certificate.public_key()
    verify_signature(responder_key, parsed.signature, parsed.tbs_response_bytes)
    with pytest.raises(InvalidSignature):
        verify_signature(
            env.ca.certificate.public_key(), parsed.signature, parsed.tbs_response_bytes
        )

    serial = env.leaf.certificate.serial_number
    serial_bytes = serial.to_bytes((serial.bit_length() + 8) // 8, "big")
    flipped = bytearray(response)
    flipped[response.index(serial_bytes) + len(serial_bytes) - 1] ^= 0x01
    tampered = ocsp.load_der_ocsp_response(bytes(flipped))
    assert tampered.serial_number != serial
    with pytest.raises(InvalidSignature):
        verify_signature(responder_key, tampered.signature, tampered.tbs_response_bytes)
    result = env.check(bytes(flipped), "-no_nonce", "-cert", "leaf.pem")
    assert result.returncode != 0
    assert "Response Verify Failure" in result.stdout + result.stderr


def test_one_responder_serves_several_cas(tmp_path: Path) -> None:
    source = MemoryStatus()
    identities, leaves = [], []
    for key_type in (KeyType.EC_P256, KeyType.RSA_2048):
        _, ca = make_pki(key_type)
        ca_signed = ResponderIdentity(ca.certificate, ca.certificate, ca.signer)
        leaf = issue(f"leaf {key_type}", ca)
        source.set(ca, leaf, CertificateStatus("good"))
        identities.append(ca_signed)
        leaves.append((leaf, ca))
    responder = OcspResponder(identities, source, frozen_clock, timedelta(minutes=10))
    for (leaf, ca), identity in zip(leaves, identities, strict=True):
        builder = ocsp.OCSPRequestBuilder().add_certificate(
            leaf.certificate, ca.certificate, hashes.SHA1()
        )
        parsed = ocsp.load_der_ocsp_response(
            responder.respond(builder.build().public_bytes(Encoding.DER))
        )
        assert parsed.certificate_status is ocsp.OCSPCertStatus.GOOD
        assert parsed.certificates == [identity.responder_certificate]
        assert parsed.next_update_utc == CLOCK + timedelta(minutes=10)
        verify_signature(ca.signer.public_key(), parsed.signature, parsed.tbs_response_bytes)


def test_failures_behind_the_responder_are_internal_errors(env: Env) -> None:
    request = env.request("-cert", "leaf.pem")
    env.source.fail = True
    assert status_of(env.responder().respond(request)) is Status.INTERNAL_ERROR

    class BrokenSigner:
        key_type = env.delegate.signer.key_type
        public_key = env.delegate.signer.public_key

        def sign(self, data: bytes) -> bytes:
            raise OSError("HSM unplugged")

    env.source.fail = False
    identity = ResponderIdentity(env.ca.certificate, env.delegate.certificate, BrokenSigner())
    responder = OcspResponder([identity], env.source, frozen_clock)
    assert status_of(responder.respond(request)) is Status.INTERNAL_ERROR


def test_responder_identities_are_checked(env: Env) -> None:
    ca, delegate = env.ca, env.delegate
    ResponderIdentity(ca.certificate, ca.certificate, ca.signer)
    ResponderIdentity(ca.certificate, delegate.certificate, delegate.signer)
    with pytest.raises(ValueError, match="key"):
        ResponderIdentity(ca.certificate, delegate.certificate, ca.signer)
    no_eku = issue("no OCSP signing", ca, key_type=env.key_type)
    with pytest.raises(ValueError, match="OCSPSigning"):
        ResponderIdentity(ca.certificate, no_eku.certificate, no_eku.signer)
    other_eku = issue("TSA", ca, eku=[TIME_STAMPING])
    with pytest.raises(ValueError, match="OCSPSigning"):
        ResponderIdentity(ca.certificate, other_eku.certificate, other_eku.signer)
    stranger = issue("stranger", env.root, eku=[OCSP_SIGNING])  # issued by the root, not the CA
    with pytest.raises(ValueError, match="issued by the CA"):
        ResponderIdentity(ca.certificate, stranger.certificate, stranger.signer)
    with pytest.raises(ValueError):
        OcspResponder([], env.source, frozen_clock)
    with pytest.raises(ValueError):
        OcspResponder([env.identity()], env.source, frozen_clock, timedelta(0))
    with pytest.raises(ValueError):
        CertificateStatus("revoked")
    with pytest.raises(ValueError):
        CertificateStatus("good", REVOKED_AT)


def test_a_naive_clock_means_utc_and_other_zones_are_converted(env: Env) -> None:
    request = build_request(env)
    beijing = CLOCK.astimezone(timezone(timedelta(hours=8))).replace(microsecond=5)
    for now in (CLOCK.replace(tzinfo=None), beijing):
        responder = OcspResponder([env.identity()], env.source, fixed(now))
        parsed = ocsp.load_der_ocsp_response(responder.respond(request))
        assert parsed.produced_at_utc == parsed.this_update_utc == CLOCK
