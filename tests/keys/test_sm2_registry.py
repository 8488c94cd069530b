"""The SM2 hierarchy in the key registry (issue #12): made by `init` only when
GOVTRUST_SM2_ENABLED is on, always SM2 in the software backend, GM/T 0015 certificates that
openssl checks, rotation, per-seal keys, and SM2 refused wherever it does not belong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from core.services import Services
from keys.algorithms import KeyType, UnsupportedKeyType, verify_signature
from keys.purposes import PURPOSES, SM2_CA_PURPOSES
from keys.registry import KeyStateError
from keys.sm2 import OID_SM2_WITH_SM3
from keys.sm2_certificates import sm2_public_key_of, verify_sm2_certificate_signature
from tests.conftest import FrozenClock
from tests.keys.sm2_services import asn1_certificate, sm2_services
from tests.keys.sm2_testpki import Sm2Issued, openssl_check_certificate, openssl_verify_sm2
from tests.keys.softhsm import init_token, reset_module

SM2_PURPOSES = [name for name, purpose in PURPOSES.items() if purpose.sm2]
MADE_BY_INIT = [name for name in SM2_PURPOSES if not PURPOSES[name].per_object]
DATA = "营业执照 91350100M000100Y43".encode()


@pytest.fixture
def sm2(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, clock: FrozenClock
) -> Iterator[Services]:
    built = sm2_services(tmp_path, clock, backend, request)
    built.keys.init()
    yield built
    built.close()


def active(services: Services, purpose: str) -> str:
    [key] = [key for key in services.keys.list_keys(purpose) if key.state == "active"]
    return key.kid


def issued(services: Services, kid: str) -> Sm2Issued:
    return Sm2Issued(asn1_certificate(services, kid), services.keys.signer_by_kid(kid), kid)


def test_sm2_purposes_are_fixed_to_sm2() -> None:
    assert set(SM2_PURPOSES) == {
        "sm2-root", "sm2-seal-ca", "sm2-service-ca", "sm2-seal-maker", "sm2-seal", "sm2-licence",
    }  # fmt: skip
    assert all(PURPOSES[name].fixed_key_type is KeyType.SM2 for name in SM2_PURPOSES)
    assert not any(purpose.sm2 for name, purpose in PURPOSES.items() if name not in SM2_PURPOSES)


def test_init_creates_the_sm2_hierarchy_beside_the_other(sm2: Services, tmp_path: Path) -> None:
    keys = sm2.keys.list_keys()
    assert {key.purpose for key in keys} >= {"root", "token", "licence", *MADE_BY_INIT}
    for name in MADE_BY_INIT:
        states = sorted(key.state for key in keys if key.purpose == name)
        assert states == (["active", "next"] if PURPOSES[name].prepublish else ["active"]), name
    sm2_keys = [key for key in keys if PURPOSES[key.purpose].sm2]
    assert {key.key_type for key in sm2_keys} == {KeyType.SM2}
    assert {key.backend for key in sm2_keys} == {"software"}
    assert not [key for key in keys if key.purpose == "sm2-seal"]  # per seal, on demand

    root = issued(sm2, active(sm2, "sm2-root"))
    parents = {
        "sm2-root": "sm2-root",
        "sm2-seal-ca": "sm2-root",
        "sm2-service-ca": "sm2-root",
        "sm2-seal-maker": "sm2-seal-ca",
        "sm2-licence": "sm2-service-ca",
    }
    for name, parent in parents.items():
        for key in (key for key in sm2_keys if key.purpose == name):
            child = issued(sm2, key.kid)
            issuer = issued(sm2, active(sm2, parent))
            assert key.issuer_kid == issuer.kid
            cert = child.certificate
            assert cert["signature_algorithm"]["algorithm"].dotted == OID_SM2_WITH_SM3
            assert cert.issuer == issuer.certificate.subject
            verify_sm2_certificate_signature(cert, sm2_public_key_of(issuer.certificate))
            assert openssl_check_certificate(tmp_path, child, issuer), name  # independent
            assert cert.ca == PURPOSES[name].is_ca
            assert ("non_repudiation" in cert.key_usage_value.native) == (
                PURPOSES[name].non_repudiation
            )
    assert root.certificate.self_signed == "maybe"
    # cryptography reads the stored certificate (names, validity) even though it has no SM2
    licence = sm2.keys.signer("sm2-licence")
    chain = licence.certificate_chain()
    assert [c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for c in chain] == [
        "govtrust SM2 Licence signing",
        "govtrust SM2 Service CA",
        "govtrust SM2 Root CA",
    ]


def test_sm2_keys_sign_what_openssl_verifies(sm2: Services, tmp_path: Path) -> None:
    signer = sm2.keys.signer("sm2-licence")
    assert signer.key_type is KeyType.SM2
    signature = signer.sign(DATA)
    verify_signature(signer.public_key(), signature, DATA)
    certificate = asn1_certificate(sm2, signer.kid)
    assert sm2_public_key_of(certificate) == signer.public_key()
    spki = signer.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    assert openssl_verify_sm2(tmp_path, spki, signature, DATA)


def test_init_is_idempotent(sm2: Services) -> None:
    before = {key.kid for key in sm2.keys.list_keys()}
    assert sm2.keys.init() == []
    assert {key.kid for key in sm2.keys.list_keys()} == before


def test_rotation_of_the_rotatable_sm2_keys(sm2: Services, tmp_path: Path) -> None:
    old_licence = active(sm2, "sm2-licence")
    [waiting] = [key.kid for key in sm2.keys.list_keys("sm2-licence") if key.state == "next"]
    assert sm2.keys.rotate("sm2-licence", actor="test").kid == waiting
    states = {key.kid: key.state for key in sm2.keys.list_keys("sm2-licence")}
    assert states[old_licence] == "retired" and states[waiting] == "active"
    assert sorted(states.values()) == ["active", "next", "retired"]
    assert old_licence in {key.kid for key in sm2.keys.published("sm2-licence")}

    old_ca = active(sm2, "sm2-seal-ca")
    new_ca = sm2.keys.rotate("sm2-seal-ca", actor="test")
    assert new_ca.kid != old_ca and new_ca.key_type is KeyType.SM2
    root = issued(sm2, active(sm2, "sm2-root"))
    assert openssl_check_certificate(tmp_path, issued(sm2, new_ca.kid), root)
    # the next seal maker is certified by the new seal CA
    maker = sm2.keys.rotate("sm2-seal-maker", actor="test")
    assert maker.issuer_kid == new_ca.kid

    with pytest.raises(KeyStateError, match="not rotated in place"):
        sm2.keys.rotate("sm2-root")
    with pytest.raises(KeyStateError, match="belong to their object"):
        sm2.keys.rotate("sm2-seal")


def test_a_seal_gets_its_own_sm2_key(sm2: Services, tmp_path: Path) -> None:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "福州示例科技有限公司"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "91350100M000100Y43"),
            x509.NameAttribute(NameOID.COMMON_NAME, "审批专用章"),
        ]
    )
    key = sm2.keys.create_object_key("sm2-seal", subject, actor="seal-admin")
    assert key.key_type is KeyType.SM2 and key.backend == "software"
    assert key.certificate is not None and key.certificate.subject == subject
    seal = issued(sm2, key.kid)
    ca = issued(sm2, active(sm2, "sm2-seal-ca"))
    assert openssl_check_certificate(tmp_path, seal, ca)
    assert {"digital_signature", "non_repudiation"} <= seal.certificate.key_usage_value.native
    assert len(sm2.keys.signer_by_kid(key.kid).certificate_chain()) == 3
    with pytest.raises(UnsupportedKeyType, match="cannot be SM2"):
        sm2.keys.create_object_key("seal", subject, actor="x", key_type=KeyType.SM2)


def test_sm2_is_not_a_key_type_for_the_whole_hierarchy(sm2: Services) -> None:
    before = len(sm2.keys.list_keys())
    with pytest.raises(UnsupportedKeyType, match="GOVTRUST_SM2_ENABLED"):
        sm2.keys.init(key_type=KeyType.SM2)
    assert len(sm2.keys.list_keys()) == before


@pytest.mark.parametrize("backend", ["embedded"])
def test_without_the_setting_there_is_no_sm2_hierarchy(
    tmp_path: Path, clock: FrozenClock, backend: str
) -> None:
    services = sm2_services(tmp_path, clock, sm2_enabled=False)
    try:
        services.keys.init()
        assert not [key for key in services.keys.list_keys() if PURPOSES[key.purpose].sm2]
        for action in (
            lambda: services.keys.signer("sm2-licence"),
            lambda: services.keys.rotate("sm2-licence"),
            lambda: services.keys.create_object_key("sm2-seal", x509.Name([]), actor="x"),
        ):
            with pytest.raises(KeyStateError, match="GOVTRUST_SM2_ENABLED=true"):
                action()
    finally:
        services.close()


@pytest.mark.parametrize("backend", ["embedded"])
def test_sm2_keys_stay_in_software_when_new_keys_go_to_the_hsm(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    token = init_token(tmp_path / "hsm")
    monkeypatch.setenv("SOFTHSM2_CONF", str(token.conf))
    reset_module(token.module)
    services = sm2_services(
        tmp_path,
        clock,
        key_backend="pkcs11",
        pkcs11_module=token.module,
        pkcs11_token_label=token.label,
        pkcs11_pin=token.pin,
    )
    try:
        services.keys.init()
        backends = {(PURPOSES[key.purpose].sm2, key.backend) for key in services.keys.list_keys()}
        assert backends == {(True, "software"), (False, "pkcs11")}
        assert services.keys.signer("sm2-licence").sign(DATA)
    finally:
        services.close()
        reset_module(token.module)


def test_sm2_ca_purposes_are_the_sm2_cas() -> None:
    assert all(PURPOSES[name].is_ca and PURPOSES[name].sm2 for name in SM2_CA_PURPOSES)
