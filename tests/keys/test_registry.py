"""The key registry on both key backends (software, SoftHSM2) and both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from sqlalchemy import select

from core.audit.storage import AuditEntryRow
from core.db.migrate import upgrade
from core.services import Services, build_services
from keys.algorithms import KeyType, verify_signature
from keys.backends.base import KeyBackendError
from keys.master import new_master_key
from keys.purposes import PURPOSES, UnknownPurpose
from keys.registry import KeyStateError
from tests.conftest import REDIS_URL, FrozenClock, _need, make_settings
from tests.keys.softhsm import init_token, reset_module

DATA = b"approval result 2026-11-27"


@pytest.fixture(params=["software", "pkcs11"])
def key_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_for(
    key_backend: str,
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, object]]:
    """Settings (as keyword arguments) for a key backend on a database backend."""
    values: dict[str, object] = {"master_key": new_master_key()}
    schema = None
    if backend == "real":
        url, schema = request.getfixturevalue("pg_schema")
        values.update(
            database_url=url,
            redis_url=_need(REDIS_URL, "GOVTRUST_TEST_REDIS_URL"),
            cache_prefix=f"test:{uuid.uuid4().hex[:8]}:",
        )
    if key_backend == "pkcs11":
        token = init_token(tmp_path / "hsm")
        monkeypatch.setenv("SOFTHSM2_CONF", str(token.conf))
        reset_module(token.module)
        values.update(
            key_backend="pkcs11",
            pkcs11_module=token.module,
            pkcs11_token_label=token.label,
            pkcs11_pin=token.pin,
        )
    values["_schema"] = schema
    yield values
    if key_backend == "pkcs11":
        reset_module(str(values["pkcs11_module"]))


def start(tmp_path: Path, values: dict[str, object], clock: FrozenClock) -> Services:
    options = {k: v for k, v in values.items() if not k.startswith("_")}
    built = build_services(
        make_settings(tmp_path, **options), schema=values["_schema"], clock=clock
    )  # type: ignore[arg-type]
    upgrade(built.engine)
    return built


@pytest.fixture
def keyed(
    tmp_path: Path, settings_for: dict[str, object], clock: FrozenClock
) -> Iterator[Services]:
    built = start(tmp_path, settings_for, clock)
    built.keys.init()
    yield built
    built.close()


def certificate(services: Services, purpose: str) -> x509.Certificate:
    chain = services.keys.signer(purpose).certificate_chain()
    return chain[0]


def test_init_creates_the_hierarchy(keyed: Services, key_backend: str) -> None:
    keys = keyed.keys.list_keys()
    assert {key.backend for key in keys} == {key_backend}
    for purpose in PURPOSES.values():
        if purpose.per_object or purpose.sm2:  # SM2 hierarchy: off unless GOVTRUST_SM2_ENABLED
            assert not [key for key in keys if key.purpose == purpose.name]
            continue
        states = [key.state for key in keys if key.purpose == purpose.name]
        assert "active" in states, purpose.name
        assert ("next" in states) == purpose.prepublish, purpose.name
    root = certificate(keyed, "root")
    root.verify_directly_issued_by(root)
    for ca in ("seal-ca", "service-ca"):
        cert = certificate(keyed, ca)
        cert.verify_directly_issued_by(root)
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.key_cert_sign and usage.crl_sign
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    service_ca = certificate(keyed, "service-ca")
    licence = certificate(keyed, "licence")
    licence.verify_directly_issued_by(service_ca)
    assert licence.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    crl_url = licence.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS)
    assert crl_url.value[0].full_name[0].value.startswith("https://govtrust.test/pki/crl/")
    tsa = certificate(keyed, "tsa").extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert tsa.critical and list(tsa.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    responders = [key for key in keys if key.purpose == "ocsp"]
    cas = {key.kid for key in keys if key.purpose in ("root", "seal-ca", "service-ca")}
    assert {key.issuer_kid for key in responders} == cas


def test_init_is_idempotent(keyed: Services) -> None:
    before = [key.kid for key in keyed.keys.list_keys()]
    assert keyed.keys.init() == []
    assert [key.kid for key in keyed.keys.list_keys()] == before


@pytest.mark.parametrize("purpose", ["token", "licence", "audit", "tsa"])
def test_one_signing_interface(keyed: Services, purpose: str) -> None:
    signer = keyed.keys.signer(purpose)
    signature = signer.sign(DATA)
    verify_signature(signer.public_key(), signature, DATA)
    with pytest.raises(InvalidSignature):
        verify_signature(signer.public_key(), signature, DATA + b"!")
    jwk = signer.public_jwk()
    assert jwk["kid"] == signer.kid and "d" not in jwk
    chain = signer.certificate_chain()
    if PURPOSES[purpose].certified:
        assert chain[0].public_key() == signer.public_key()
        assert chain[-1].subject == chain[-1].issuer  # ends at the root
    else:
        assert chain == []
    if signer.key_type is KeyType.EC_P256:
        assert len(signer.sign_jws(DATA)) == 64


def test_restart_finds_every_key(
    tmp_path: Path, settings_for: dict[str, object], clock: FrozenClock
) -> None:
    first = start(tmp_path, settings_for, clock)
    first.keys.init()
    kids = [key.kid for key in first.keys.list_keys()]
    signer = first.keys.signer("licence")
    signature = signer.sign(DATA)
    first.close()
    again = start(tmp_path, settings_for, clock)
    try:
        assert [key.kid for key in again.keys.list_keys()] == kids
        assert again.keys.init() == []
        reloaded = again.keys.signer("licence")
        assert reloaded.kid == signer.kid
        verify_signature(reloaded.public_key(), signature, DATA)
        verify_signature(reloaded.public_key(), reloaded.sign(DATA), DATA)
    finally:
        again.close()


def test_rotation_keeps_the_old_key_published_until_its_tokens_expire(
    keyed: Services, clock: FrozenClock
) -> None:
    old = keyed.keys.signer("token")
    token_signature = old.sign(DATA)
    upcoming = [key.kid for key in keyed.keys.list_keys("token") if key.state == "next"]
    active = keyed.keys.rotate("token")
    assert [active.kid] == upcoming  # the pre-published key is the one that takes over
    published = {key.kid: key for key in keyed.keys.published("token")}
    assert published[old.kid].state == "retired"
    assert {key.state for key in published.values()} == {"retired", "active", "next"}
    verify_signature(published[old.kid].public_key, token_signature, DATA)
    assert keyed.keys.signer("token").kid == active.kid
    clock.advance(days=2)
    assert old.kid not in {key.kid for key in keyed.keys.published("token")}


def test_rotating_a_certified_key_keeps_its_certificate_published(
    keyed: Services, clock: FrozenClock
) -> None:
    old = keyed.keys.signer("licence")
    keyed.keys.rotate("licence")
    clock.advance(days=400)
    retired = {key.kid: key for key in keyed.keys.published("licence")}[old.kid]
    assert retired.publish_until == old.certificate_chain()[0].not_valid_after_utc


def test_key_events_go_to_the_audit_trail(keyed: Services) -> None:
    keyed.keys.rotate("token", actor="admin-1")
    with keyed.sessions() as session:
        actions = [row.action for row in session.scalars(select(AuditEntryRow))]
        verified = keyed.audit.verify(session)
    made_by_init = [p for p in PURPOSES.values() if not p.per_object and not p.sm2]
    assert actions.count("key.created.active") >= len(made_by_init)  # no seal key yet
    assert "key.activated" in actions and "key.retired" in actions
    assert verified.ok


def test_root_is_not_rotated_and_unknown_purposes_change_nothing(keyed: Services) -> None:
    before = [(key.kid, key.state) for key in keyed.keys.list_keys()]
    with pytest.raises(KeyStateError, match="trust anchor"):
        keyed.keys.rotate("root")
    with pytest.raises(UnknownPurpose, match="known purposes"):
        keyed.keys.rotate("passport")
    with pytest.raises(UnknownPurpose):
        keyed.keys.signer("passport")
    assert [(key.kid, key.state) for key in keyed.keys.list_keys()] == before


@pytest.mark.parametrize("key_backend", ["software"])  # it wraps software keys
def test_wrong_master_key_is_refused_and_changes_nothing(
    tmp_path: Path, settings_for: dict[str, object], clock: FrozenClock
) -> None:
    first = start(tmp_path, settings_for, clock)
    first.keys.init()
    before = [key.kid for key in first.keys.list_keys()]
    first.close()
    wrong = start(tmp_path, {**settings_for, "master_key": new_master_key()}, clock)
    try:
        with pytest.raises(KeyBackendError, match="master key"):
            wrong.keys.signer("token")
        with pytest.raises(KeyBackendError, match="master key"):
            wrong.keys.init()
        assert [key.kid for key in wrong.keys.list_keys()] == before
    finally:
        wrong.close()


@pytest.mark.parametrize("key_backend", ["software"])  # it wraps software keys
def test_master_key_rotation_rewraps_without_downtime(
    tmp_path: Path, settings_for: dict[str, object], clock: FrozenClock
) -> None:
    old_master = str(settings_for["master_key"])
    new_master = new_master_key()
    first = start(tmp_path, settings_for, clock)
    first.keys.init()
    count = len(first.keys.list_keys())
    first.close()
    both = {**settings_for, "master_key": new_master, "master_key_previous": old_master}
    during = start(tmp_path, both, clock)
    try:
        during.keys.signer("licence").sign(DATA)  # old wrapping still readable
        assert during.keys.rewrap() == count
        assert during.keys.rewrap() == 0
    finally:
        during.close()
    after = start(tmp_path, {**settings_for, "master_key": new_master}, clock)
    try:
        after.keys.signer("licence").sign(DATA)
    finally:
        after.close()
    stale = start(tmp_path, settings_for, clock)
    try:
        with pytest.raises(KeyBackendError):
            stale.keys.signer("licence")
    finally:
        stale.close()


def test_missing_hsm_module_is_a_clear_error(tmp_path: Path, clock: FrozenClock) -> None:
    values: dict[str, object] = {
        "key_backend": "pkcs11",
        "pkcs11_module": str(tmp_path / "no-such-module.so"),
        "pkcs11_token_label": "t",
        "pkcs11_pin": "1234",
        "_schema": None,
    }
    services = start(tmp_path, values, clock)
    try:
        with pytest.raises(KeyBackendError, match="module"):
            services.keys.init()
        assert services.keys.list_keys() == []
    finally:
        services.close()


def test_a_seal_gets_its_own_certified_key(keyed: Services) -> None:
    subject = x509.Name(
        [
            x509.NameAttribute(x509.NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "福州示例科技有限公司"),
            x509.NameAttribute(x509.NameOID.SERIAL_NUMBER, "91350100M000100Y43"),
            x509.NameAttribute(x509.NameOID.COMMON_NAME, "审批专用章"),
        ]
    )
    key = keyed.keys.create_object_key("seal", subject, actor="seal-admin")
    signer = keyed.keys.signer_by_kid(key.kid)
    chain = signer.certificate_chain()
    assert chain[0].subject == subject and len(chain) == 3
    chain[0].verify_directly_issued_by(certificate(keyed, "seal-ca"))
    usage = chain[0].extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    with pytest.raises(KeyStateError):
        keyed.keys.create_object_key("token", subject, actor="x")
    with pytest.raises(KeyStateError):
        keyed.keys.rotate("seal")


def test_active_key_is_cached_briefly(keyed: Services, clock: FrozenClock) -> None:
    first = keyed.keys.signer("token")
    assert keyed.keys.signer("token") is first
    keyed.keys.rotate("token")
    assert keyed.keys.signer("token").kid != first.kid  # rotation clears the cache
