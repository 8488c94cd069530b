"""Licence QRs, status lists and the trust list signed with SM2 (issue #12): COSE ``alg``
-65600 and JWS ``alg`` ``SM2SM3`` (verify/FORMAT.md §2), SM2 certificate chains checked
against a pinned SM2 root, and the whole path (registry -> QR -> online and offline verdict,
HTTP API, offline CLI) with ``GOVTRUST_LICENCE_ALGORITHM=SM2``. Every SM2 signature made here
is also checked by Debian's openssl. A negative case stands beside every positive one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import cbor2
import pytest
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from pydantic import ValidationError

from certs.demo_types import demo_licence_types
from certs.service import LicenceService
from core.app import create_app
from core.cli import main
from core.services import Services
from keys.algorithms import KeyType, UnsupportedKeyType, raw_to_der_ecdsa
from keys.jws import b64url, b64url_decode
from tests.certs.conftest import ADMIN, issue_business
from tests.conftest import FrozenClock, make_settings
from tests.keys.sm2_services import sm2_services
from tests.keys.sm2_testpki import openssl_verify_sm2
from tests.verify.conftest import LocalSigner, LocalSm2Signer, Scene, sm2_licence_pki
from tests.verify.test_qr_payload import CLAIMS
from verify.cose import CoseSignatureError, decode_sign1, sign1, verify_sign1
from verify.issuing import QrIssuer
from verify.offline_cache import OfflineCache
from verify.payload import decode_claims, encode_claims
from verify.publication import Publisher
from verify.qr_text import payload_of, qr_text, verification_url_base
from verify.signing import COSE_SM2, JWS_SM2, LicenceAlgorithm, check_issued_by, sign_jws
from verify.status_list import (
    SIZE_STEP,
    Status,
    StatusList,
    StatusListError,
    pack,
    read_status_list,
    sign_status_list,
)
from verify.status_sources import RegistryStatus
from verify.trust_list import TrustListError, key_entry, read_trust_list, sign_trust_list
from verify.verdict import Verdict
from verify.verifier import verify_qr_text

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
URI = "https://govtrust.test/verify/status-lists/1"


def _pem(signer: LocalSm2Signer) -> bytes:
    return signer.private_key.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )


# -- COSE_Sign1 ---------------------------------------------------------------------------


def test_an_sm2_qr_payload_verifies_and_openssl_agrees(tmp_path: Path) -> None:
    signer = LocalSm2Signer()
    message = decode_sign1(sign1(encode_claims(CLAIMS), b"kid-sm2!", signer))
    assert message.algorithm == COSE_SM2 == -65600
    assert len(message.signature) == 64  # r || s, as ES256
    verify_sign1(message, signer.private_key.public_key())
    assert decode_claims(message.payload) == CLAIMS
    der = raw_to_der_ecdsa(message.signature)
    assert openssl_verify_sm2(tmp_path, _pem(signer), der, message.signed_bytes())


def test_an_sm2_qr_payload_is_refused_when_changed_or_checked_with_another_algorithm(
    tmp_path: Path,
) -> None:
    signer = LocalSm2Signer()
    key = signer.private_key.public_key()
    message = decode_sign1(sign1(encode_claims(CLAIMS), b"kid-sm2!", signer))
    edited = replace(message, payload=encode_claims(replace(CLAIMS, holder_name="别的公司")))
    with pytest.raises(CoseSignatureError, match="does not verify"):
        verify_sign1(edited, key)
    der = raw_to_der_ecdsa(message.signature)
    assert not openssl_verify_sm2(tmp_path, _pem(signer), der, edited.signed_bytes())
    with pytest.raises(CoseSignatureError, match="does not verify"):
        verify_sign1(message, LocalSm2Signer().private_key.public_key())
    with pytest.raises(CoseSignatureError, match="64 bytes"):
        verify_sign1(replace(message, signature=message.signature + b"\x00"), key)
    # the algorithm comes from the trusted key: an ES256 key never checks an SM2 message,
    # and an SM2 signature relabelled ES256 (-7) is refused by the SM2 key
    with pytest.raises(CoseSignatureError, match="algorithm"):
        verify_sign1(message, LocalSigner().private_key.public_key())
    relabelled = replace(message, algorithm=-7)
    with pytest.raises(CoseSignatureError, match="algorithm"):
        verify_sign1(relabelled, key)
    # an ES256 signature labelled SM2 is checked as SM2, and fails
    es256 = decode_sign1(sign1(encode_claims(CLAIMS), b"kid-p256", LocalSigner()))
    with pytest.raises(CoseSignatureError, match="does not verify"):
        verify_sign1(replace(es256, algorithm=COSE_SM2), key)


# -- status list (JWS) --------------------------------------------------------------------


def _status_token(signer: LocalSm2Signer | LocalSigner) -> str:
    statuses = [(1, Status.INVALID), (2, Status.SUSPENDED)]
    return sign_status_list(StatusList(2, pack(statuses, SIZE_STEP)), URI, signer, NOW, 600, 60)


def test_an_sm2_status_list_verifies_and_openssl_agrees(tmp_path: Path) -> None:
    signer = LocalSm2Signer()
    token = _status_token(signer)
    head, payload, signature = token.split(".")
    assert json.loads(b64url_decode(head))["alg"] == JWS_SM2 == "SM2SM3"
    status = read_status_list(token, signer.keys())
    assert status.status_list.status(1) == Status.INVALID
    assert status.status_list.status(3) == Status.VALID
    der = raw_to_der_ecdsa(b64url_decode(signature))
    assert openssl_verify_sm2(tmp_path, _pem(signer), der, f"{head}.{payload}".encode())


def test_an_sm2_status_list_is_refused_when_forged_or_relabelled() -> None:
    signer = LocalSm2Signer()
    token = _status_token(signer)
    head, payload, signature = token.split(".")
    with pytest.raises(StatusListError, match="does not verify"):
        read_status_list(token, {signer.kid: LocalSm2Signer().private_key.public_key()})
    with pytest.raises(StatusListError, match="unexpected algorithm"):
        read_status_list(token, {signer.kid: LocalSigner().private_key.public_key()})
    header = json.loads(b64url_decode(head)) | {"alg": "ES256"}
    relabelled = f"{b64url(json.dumps(header).encode())}.{payload}.{signature}"
    with pytest.raises(StatusListError, match="unexpected algorithm"):
        read_status_list(relabelled, signer.keys())
    es256 = LocalSigner(signer.kid)
    with pytest.raises(StatusListError, match="unexpected algorithm"):
        read_status_list(_status_token(es256), signer.keys())


# -- trust list and SM2 chains ------------------------------------------------------------


def _p256_root() -> x509.Certificate:
    """The P-256 root of the ES256 test vectors."""
    context = Path(__file__).resolve().parents[2] / "verify" / "testdata" / "context.json"
    return x509.load_pem_x509_certificate(json.loads(context.read_text())["ROOT_PEM"].encode())


def _trust_token(entries: list[dict[str, object]] | None = None) -> tuple[str, x509.Certificate]:
    pki = sm2_licence_pki()
    chain = [pki.leaf, pki.ca]
    token = sign_trust_list(
        "https://govtrust.test",
        entries if entries is not None else [key_entry(pki.signer.kid, "active", chain)],
        [URI],
        {},
        {},
        pki.signer,
        chain,
        NOW,
        86400,
    )
    return token, pki.root


def test_an_sm2_trust_list_chains_to_the_pinned_sm2_root() -> None:
    token, root = _trust_token()
    trust = read_trust_list(token, root)
    [key] = trust.keys
    assert key.algorithm == "SM2SM3"
    assert json.loads(b64url_decode(token.split(".")[1]))["keys"][0]["alg"] == "SM2SM3"
    assert json.loads(b64url_decode(token.split(".")[0]))["alg"] == "SM2SM3"


def test_an_sm2_trust_list_is_refused_under_another_root_or_a_false_alg() -> None:
    token, _ = _trust_token()
    other_sm2_root = sm2_licence_pki().root
    with pytest.raises(TrustListError, match="does not chain"):
        read_trust_list(token, other_sm2_root)
    p256_root = _p256_root()
    with pytest.raises(TrustListError, match="does not chain"):
        read_trust_list(token, p256_root)
    pki = sm2_licence_pki()
    entry = key_entry(pki.signer.kid, "active", [pki.leaf, pki.ca]) | {"alg": "ES256"}
    lying = sign_trust_list(
        "https://govtrust.test",
        [entry],
        [URI],
        {},
        {},
        pki.signer,
        [pki.leaf, pki.ca],
        NOW,
        86400,
    )
    with pytest.raises(TrustListError, match="says alg 'ES256'"):
        read_trust_list(lying, pki.root)


def test_certificates_are_checked_with_their_own_family() -> None:
    pki = sm2_licence_pki()
    check_issued_by(pki.leaf, pki.ca)
    check_issued_by(pki.ca, pki.root)
    with pytest.raises(InvalidSignature, match="another issuer"):
        check_issued_by(pki.leaf, pki.root)
    other = sm2_licence_pki()
    with pytest.raises(InvalidSignature):  # same names, another key
        check_issued_by(pki.leaf, other.ca)
    p256_root = _p256_root()
    forged_name = replace_issuer_name(pki.ca, p256_root)
    with pytest.raises(InvalidSignature, match="SM2 issuer"):
        check_issued_by(forged_name, p256_root)


def replace_issuer_name(
    certificate: x509.Certificate, issuer: x509.Certificate
) -> x509.Certificate:
    """``certificate`` with its issuer name changed to ``issuer``'s (signature left as is)."""
    parsed = asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))
    tbs = parsed["tbs_certificate"]
    tbs["issuer"] = asn1_x509.Name.load(issuer.subject.public_bytes())
    rebuilt = asn1_x509.Certificate(
        {
            "tbs_certificate": asn1_x509.TbsCertificate.load(tbs.dump(force=True)),
            "signature_algorithm": parsed["signature_algorithm"],
            "signature_value": parsed["signature_value"],
        }
    )
    return x509.load_der_x509_certificate(rebuilt.dump())


def test_rsa_keys_do_not_sign_licence_lists() -> None:
    signer = LocalSigner()
    signer.key_type = KeyType.RSA_2048
    with pytest.raises(UnsupportedKeyType, match="do not sign licence"):
        sign_jws({}, signer, "statuslist+jwt")


# -- the service with GOVTRUST_LICENCE_ALGORITHM=SM2 --------------------------------------


@dataclass
class Sm2Service:
    services: Services
    scene: Scene


@pytest.fixture
def sm2(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, clock: FrozenClock
) -> Iterator[Sm2Service]:
    built = sm2_services(tmp_path, clock, backend, request, licence_algorithm="SM2")
    built.keys.init()
    licences = LicenceService(built.sessions, built.identifiers, built.audit, clock)
    for licence_type in demo_licence_types(seal_id="seal-demo-1"):
        licences.register_type(licence_type, ADMIN)
    publisher = Publisher(
        built.settings.issuer,
        built.sessions,
        built.keys,
        built.cache,
        clock,
        algorithm=LicenceAlgorithm.SM2,
    )
    issuer = QrIssuer(
        built.settings.issuer,
        publisher.status_list_uri,
        built.keys,
        clock,
        algorithm=LicenceAlgorithm.SM2,
    )
    try:
        yield Sm2Service(built, Scene(licences, issuer, publisher, clock))
    finally:
        built.close()


def test_the_service_signs_with_its_sm2_licence_key(sm2: Sm2Service) -> None:
    scene = sm2.scene
    assert sm2.services.licence_qr.algorithm is LicenceAlgorithm.SM2
    text = scene.qr(issue_business(scene.licences))
    assert decode_sign1(payload_of(text)).algorithm == COSE_SM2
    assert scene.both(text) == (Verdict.VALID, Verdict.VALID)
    trust = scene.trust()
    assert {key.algorithm for key in trust.keys} == {"SM2SM3"}
    assert {key.kid.split("-2")[0] for key in trust.keys} == {"sm2-licence"}
    root = scene.publisher.root_certificate()
    assert root.subject == sm2.services.keys.list_keys("sm2-root")[0].certificate.subject  # type: ignore[union-attr]


def test_an_sm2_licence_event_reaches_both_verdicts(sm2: Sm2Service) -> None:
    scene = sm2.scene
    licence = issue_business(scene.licences)
    text = scene.qr(licence)
    scene.licences.revoke(licence.identifier, "注销", ADMIN)
    assert scene.both(text) == (Verdict.REVOKED, Verdict.REVOKED)


def test_an_sm2_trust_list_does_not_vouch_for_es256_qrs_nor_the_other_way(
    sm2: Sm2Service,
) -> None:
    scene = sm2.scene
    licence = issue_business(scene.licences)
    services = sm2.services
    es256 = QrIssuer(
        services.settings.issuer, scene.publisher.status_list_uri, services.keys, scene.clock
    )
    es256_text = es256.electronic(licence)
    assert scene.online(es256_text).verdict is Verdict.NOT_GENUINE
    with pytest.raises(TrustListError, match="does not chain"):  # the P-256 root is not pinned
        read_trust_list(scene.publisher.trust_list_token(), _root(services, "root"))
    es256_publisher = Publisher(
        services.settings.issuer, services.sessions, services.keys, services.cache, scene.clock
    )
    es256_trust = read_trust_list(
        es256_publisher.trust_list_token(), es256_publisher.root_certificate()
    )
    assert {key.algorithm for key in es256_trust.keys} == {"ES256"}
    sm2_text = scene.qr(licence)
    result = verify_qr_text(sm2_text, es256_trust, RegistryStatus(scene.licences), scene.clock())
    assert result.verdict is Verdict.NOT_GENUINE


def _root(services: Services, purpose: str) -> x509.Certificate:
    certificate = services.keys.list_keys(purpose)[0].certificate
    assert certificate is not None
    return certificate


def test_an_sm2_qr_keeps_verifying_after_a_rotation(sm2: Sm2Service) -> None:
    scene = sm2.scene
    text = scene.qr(issue_business(scene.licences))
    old = sm2.services.keys.signer("sm2-licence").kid
    sm2.services.keys.rotate("sm2-licence")
    scene.clock.advance(seconds=10)  # past the registry's 5 s key cache
    assert sm2.services.keys.signer("sm2-licence").kid != old
    states = {key.kid: key.state for key in scene.trust().keys}
    assert states[old] == "retired"
    assert scene.both(text) == (Verdict.VALID, Verdict.VALID)


def test_sm2_licence_signing_needs_the_sm2_hierarchy(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="GOVTRUST_SM2_ENABLED"):
        make_settings(tmp_path, licence_algorithm="SM2")
    assert make_settings(tmp_path, licence_algorithm="SM2", sm2_enabled=True).sm2_enabled
    assert make_settings(tmp_path).licence_algorithm == "ES256"


def test_the_http_api_and_the_lists_use_sm2(sm2: Sm2Service) -> None:
    scene = sm2.scene
    licence = issue_business(scene.licences)
    text = scene.qr(licence)
    app = create_app(services=sm2.services)
    with TestClient(app, base_url="https://govtrust.test") as http:
        body = http.post("/verify", json={"qr": text}).json()
        assert body["verdict"] == "valid", body
        trust_token = http.get("/verify/trust-list").text
        status_token = http.get("/verify/status-lists/1").text
    trust = read_trust_list(trust_token, _root(sm2.services, "sm2-root"))
    status = read_status_list(status_token, trust.jws_keys())
    assert status.status_list.status(licence.status_list_index) == Status.VALID
    with pytest.raises(TrustListError):
        read_trust_list(trust_token, _root(sm2.services, "root"))


def test_the_offline_cli_verifies_sm2_qrs_under_a_pinned_sm2_root(
    sm2: Sm2Service, tmp_path: Path
) -> None:
    scene = sm2.scene
    licence = issue_business(scene.licences)
    text = scene.qr(licence)
    cache = OfflineCache(tmp_path / "cache")
    root_pem = _root(sm2.services, "sm2-root").public_bytes(Encoding.PEM)
    cache.pin_root(root_pem)
    publisher = scene.publisher
    publisher.forget()
    cache.store(
        publisher.trust_list_token(),
        {publisher.status_list_uri: publisher.status_list_token()},
        scene.clock(),
    )
    scan = tmp_path / "scan.txt"
    scan.write_text(text)
    at = scene.clock().isoformat()
    args = ["verify", str(scan), "--cache", str(tmp_path / "cache"), "--offline", "--at", at]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "verdict: VALID" in result.output
    # the same QR under a cache pinned to the P-256 root: the list is refused, nothing verifies
    other = OfflineCache(tmp_path / "other")
    other.pin_root(_root(sm2.services, "root").public_bytes(Encoding.PEM))
    with pytest.raises(TrustListError):
        other.store(publisher.trust_list_token(), {}, scene.clock())


def test_a_forged_sm2_qr_is_not_genuine(sm2: Sm2Service) -> None:
    scene = sm2.scene
    text = scene.qr(issue_business(scene.licences))
    item = cbor2.loads(payload_of(text)).value
    claims = decode_claims(item[2])
    forged_payload = encode_claims(replace(claims, holder_name="冒名顶替有限公司"))
    forged = qr_text(
        cbor2.dumps(cbor2.CBORTag(18, [item[0], {}, forged_payload, item[3]])),
        verification_url_base(sm2.services.settings.issuer),
    )
    assert scene.both(forged) == (Verdict.NOT_GENUINE, Verdict.NOT_GENUINE)
