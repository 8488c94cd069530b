"""Pkcs11Backend against a fresh SoftHSM2 token per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pkcs11
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11

from keys.algorithms import KeyType, key_type_of, verify_signature
from keys.backends.base import KeyBackend, KeyBackendError
from keys.backends.pkcs11_backend import Pkcs11Backend
from tests.keys.softhsm import SoftToken, init_token, reset_module

ALL_TYPES = [kind for kind in KeyType if kind is not KeyType.SM2]  # SM2: software only
DATA = "电子证照 licence 1.2.156.3005.2 — signed on the HSM".encode()


@pytest.fixture
def token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SoftToken]:
    made = init_token(tmp_path / "hsm")
    monkeypatch.setenv("SOFTHSM2_CONF", str(made.conf))
    reset_module(made.module)  # SoftHSM reads SOFTHSM2_CONF in C_Initialize
    yield made
    reset_module(made.module)  # drop every session before the next test's token


@pytest.fixture
def backend(token: SoftToken) -> Iterator[Pkcs11Backend]:
    made = Pkcs11Backend(token.module, token.label, token.pin)
    yield made
    made.close()


@contextmanager
def raw_session(token: SoftToken) -> Iterator[pkcs11.Session]:
    """A python-pkcs11 session of our own, to inspect what the backend left on the token."""
    lib = pkcs11.lib(token.module)
    session = lib.get_token(token_label=token.label).open(user_pin=token.pin)
    try:
        yield session
    finally:
        session.close()


def test_satisfies_the_key_backend_protocol(backend: Pkcs11Backend) -> None:
    as_protocol: KeyBackend = backend
    assert as_protocol.name == "pkcs11"


@pytest.mark.parametrize("key_type", ALL_TYPES)
def test_generate_sign_verify(backend: Pkcs11Backend, key_type: KeyType) -> None:
    reference = backend.generate(key_type, "seal-1")
    assert isinstance(reference, bytes) and len(reference) == 16
    signer = backend.load(key_type, reference)
    public = signer.public_key()
    assert signer.key_type is key_type
    assert key_type_of(public) is key_type
    signature = signer.sign(DATA)
    verify_signature(public, signature, DATA)
    with pytest.raises(InvalidSignature):
        verify_signature(public, signature, DATA + b"!")
    with pytest.raises(InvalidSignature):
        verify_signature(public, bytes([signature[0] ^ 1]) + signature[1:], DATA)


def test_keys_are_distinct(backend: Pkcs11Backend) -> None:
    first = backend.load(KeyType.EC_P256, backend.generate(KeyType.EC_P256, "a"))
    second = backend.load(KeyType.EC_P256, backend.generate(KeyType.EC_P256, "b"))
    with pytest.raises(InvalidSignature):
        verify_signature(second.public_key(), first.sign(DATA), DATA)


def test_ecdsa_signature_is_der(backend: Pkcs11Backend) -> None:
    signer = backend.load(KeyType.EC_P256, backend.generate(KeyType.EC_P256, "ec"))
    for _ in range(20):  # r or s with a high bit set needs a leading zero in DER
        signature = signer.sign(DATA)
        assert signature[0] == 0x30 and signature[1] == len(signature) - 2
        r, s = decode_dss_signature(signature)
        assert r > 0 and s > 0
        assert encode_dss_signature(r, s) == signature  # strict DER, no raw r || s


@pytest.mark.parametrize("key_type", ALL_TYPES)
def test_private_key_is_not_extractable(
    token: SoftToken, backend: Pkcs11Backend, key_type: KeyType
) -> None:
    reference = backend.generate(key_type, "locked")
    backend.close()  # login state is per process: let our own session log in
    secret = Attribute.PRIVATE_EXPONENT if key_type.name.startswith("RSA") else Attribute.VALUE
    with raw_session(token) as session:
        private = list(
            session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: reference})
        )
        public = list(
            session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ID: reference})
        )
        assert len(private) == 1 and len(public) == 1
        key = private[0]
        assert key[Attribute.TOKEN] and key[Attribute.PRIVATE] and key[Attribute.SIGN]
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.ALWAYS_SENSITIVE] and key[Attribute.NEVER_EXTRACTABLE]
        assert key[Attribute.LABEL] == public[0][Attribute.LABEL] == "locked"
        with pytest.raises(p11.AttributeSensitive):
            key[secret]
        with pytest.raises(p11.PKCS11Error):  # EXTRACTABLE can never go back to True
            key[Attribute.EXTRACTABLE] = True
        assert public[0][Attribute.TOKEN] and public[0][Attribute.VERIFY]


def test_new_instance_after_restart_uses_the_same_key(
    token: SoftToken, backend: Pkcs11Backend
) -> None:
    reference = backend.generate(KeyType.EC_P256, "long-lived")
    public = backend.load(KeyType.EC_P256, reference).public_key()
    backend.close()
    reset_module(token.module)  # as good as a new process: C_Finalize, then C_Initialize
    restarted = Pkcs11Backend(token.module, token.label, token.pin)
    try:
        signer = restarted.load(KeyType.EC_P256, reference)
        verify_signature(public, signer.sign(DATA), DATA)
        assert signer.public_key() == public
    finally:
        restarted.close()


def test_two_live_instances_share_the_login(token: SoftToken, backend: Pkcs11Backend) -> None:
    reference = backend.generate(KeyType.ED25519, "shared")
    first = backend.load(KeyType.ED25519, reference)
    second_backend = Pkcs11Backend(token.module, token.label, token.pin)
    second = second_backend.load(KeyType.ED25519, reference)  # C_Login: already logged in
    verify_signature(first.public_key(), second.sign(DATA), DATA)
    backend.close()  # C_Logout logs out every session of the process ...
    verify_signature(first.public_key(), second.sign(DATA), DATA)  # ... so this re-opens
    second_backend.close()


def test_session_reopened_when_token_closes_it(backend: Pkcs11Backend) -> None:
    signer = backend.load(KeyType.RSA_2048, backend.generate(KeyType.RSA_2048, "r"))
    session = backend._session
    assert session is not None
    session.close()  # the token forgets the session under the backend's feet
    verify_signature(signer.public_key(), signer.sign(DATA), DATA)
    assert backend._session is not None and backend._session is not session


@pytest.mark.parametrize("key_type", [KeyType.EC_P256, KeyType.RSA_2048])
def test_concurrent_signing(backend: Pkcs11Backend, key_type: KeyType) -> None:
    signer = backend.load(key_type, backend.generate(key_type, "busy"))
    messages = [DATA + str(i).encode() for i in range(80)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        signatures = list(pool.map(signer.sign, messages))
    for message, signature in zip(messages, signatures, strict=True):
        verify_signature(signer.public_key(), signature, message)


def test_wrong_pin(token: SoftToken) -> None:
    pin = "wrong-pin-8271"
    wrong = Pkcs11Backend(token.module, token.label, pin)
    with pytest.raises(KeyBackendError, match="wrong user PIN") as caught:
        wrong.generate(KeyType.EC_P256, "x")
    assert pin not in "".join(traceback.format_exception(caught.value))
    assert pin not in repr(wrong) and token.pin not in repr(wrong)


def test_missing_module(token: SoftToken, tmp_path: Path) -> None:
    missing = Pkcs11Backend(str(tmp_path / "nope.so"), token.label, token.pin)
    with pytest.raises(KeyBackendError, match="module not found"):
        missing.load(KeyType.EC_P256, bytes(16))


def test_file_that_is_not_a_pkcs11_library(token: SoftToken, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.so"
    bogus.write_text("not an ELF file")
    with pytest.raises(KeyBackendError, match="not a usable PKCS#11 library"):
        Pkcs11Backend(str(bogus), token.label, token.pin).generate(KeyType.EC_P256, "x")


def test_unknown_token_label(token: SoftToken) -> None:
    with pytest.raises(KeyBackendError, match="no-such-token"):
        Pkcs11Backend(token.module, "no-such-token", token.pin).generate(KeyType.EC_P256, "x")


def test_unknown_reference(backend: Pkcs11Backend) -> None:
    backend.generate(KeyType.EC_P256, "other")
    with pytest.raises(KeyBackendError, match="no private key"):
        backend.load(KeyType.EC_P256, os.urandom(16))


def test_wrong_key_type_or_label_is_refused(backend: Pkcs11Backend) -> None:
    reference = backend.generate(KeyType.EC_P256, "seal-7")
    with pytest.raises(KeyBackendError, match="not the"):
        backend.load(KeyType.RSA_2048, reference)
    with pytest.raises(KeyBackendError, match="not the"):
        backend.load(KeyType.EC_P256, reference, label="seal-8")
    backend.load(KeyType.EC_P256, reference, label="seal-7")


def test_destroy_then_load(token: SoftToken, backend: Pkcs11Backend) -> None:
    reference = backend.generate(KeyType.EC_P256, "doomed")
    kept = backend.generate(KeyType.EC_P256, "kept")
    signer = backend.load(KeyType.EC_P256, reference)
    backend.destroy(reference)
    with pytest.raises(KeyBackendError, match="no private key"):
        backend.load(KeyType.EC_P256, reference)
    with pytest.raises(KeyBackendError):
        signer.sign(DATA)
    backend.destroy(reference)  # rolling back twice is harmless
    backend.load(KeyType.EC_P256, kept)
    backend.close()
    with raw_session(token) as session:
        assert list(session.get_objects({Attribute.ID: reference})) == []
        assert len(list(session.get_objects({Attribute.ID: kept}))) == 2


def test_token_without_eddsa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = init_token(
        tmp_path / "hsm", disabled_mechanisms=["CKM_EDDSA", "CKM_EC_EDWARDS_KEY_PAIR_GEN"]
    )
    monkeypatch.setenv("SOFTHSM2_CONF", str(token.conf))
    reset_module(token.module)
    limited = Pkcs11Backend(token.module, token.label, token.pin)
    try:
        with pytest.raises(KeyBackendError, match="not supported by this token"):
            limited.generate(KeyType.ED25519, "ed")
        limited.load(KeyType.EC_P256, limited.generate(KeyType.EC_P256, "ec")).sign(DATA)
    finally:
        limited.close()
        reset_module(token.module)


def test_openssl_verifies_hsm_ecdsa(backend: Pkcs11Backend, tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        if os.environ.get("GOVTRUST_TEST_REQUIRE_REAL_BACKENDS") == "1":
            pytest.fail("openssl is required (GOVTRUST_TEST_REQUIRE_REAL_BACKENDS=1)")
        pytest.skip("openssl not installed")
    signer = backend.load(KeyType.EC_P256, backend.generate(KeyType.EC_P256, "interop"))
    public = signer.public_key()
    (tmp_path / "pub.pem").write_bytes(
        public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "sig.der").write_bytes(signer.sign(DATA))
    (tmp_path / "data.bin").write_bytes(DATA)
    command = [openssl, "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der"]
    good = subprocess.run(
        [*command, "data.bin"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert good.returncode == 0 and "Verified OK" in good.stdout, good.stdout + good.stderr
    (tmp_path / "data.bin").write_bytes(DATA + b"!")
    bad = subprocess.run(
        [*command, "data.bin"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert bad.returncode != 0 and "Verified OK" not in bad.stdout
