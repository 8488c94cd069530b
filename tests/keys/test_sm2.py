"""SM2 keys (GB/T 32918, GM/T 0009) in keys/: the software backend, the PKCS#11 refusal, and
SM2 certificates; every signature and certificate is checked by Debian's openssl too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from asn1crypto import pem
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keys.algorithms import (
    KeyType,
    UnsupportedKeyType,
    generate_private_key,
    key_type_of,
    parse_key_type,
    verify_signature,
)
from keys.backends.base import KeyBackendError
from keys.backends.pkcs11_backend import Pkcs11Backend
from keys.backends.software import SoftwareBackend
from keys.master import MasterKeys
from keys.sm2 import (
    DEFAULT_DISTID,
    Sm2PrivateKey,
    Sm2PublicKey,
    SM2WithSM3,
    load_sm2_public_key,
    sm3,
)
from keys.sm2_certificates import (
    is_sm2_certificate,
    sm2_public_key_of,
    verify_sm2_certificate_signature,
)
from tests.keys.sm2_testpki import (
    DISTID,
    LEAF,
    openssl,
    openssl_check_certificate,
    openssl_verify_sm2,
    sm2_issue,
    sm2_pki,
)

DATA = "审批结果 2026-11-27".encode()


def _pem(public_key: Sm2PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture
def backend() -> SoftwareBackend:
    return SoftwareBackend(MasterKeys(os.urandom(32)))


def test_sm3_test_vector() -> None:
    # GB/T 32905-2016 Appendix A.1: SM3("abc")
    assert sm3(b"abc").hex() == ("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")


def test_software_backend_signs_sm2_that_openssl_verifies(
    backend: SoftwareBackend, tmp_path: Path
) -> None:
    reference = backend.generate(KeyType.SM2, "seal-1")
    signer = backend.load(KeyType.SM2, reference, "seal-1")
    assert signer.key_type is KeyType.SM2
    signature = signer.sign(DATA)
    public = signer.public_key()
    assert isinstance(public, Sm2PublicKey)
    verify_signature(public, signature, DATA)
    assert openssl_verify_sm2(tmp_path, _pem(public), signature, DATA)
    assert not openssl_verify_sm2(tmp_path, _pem(public), signature, DATA + b".")
    with pytest.raises(InvalidSignature):
        verify_signature(public, signature, DATA + b".")


def test_signatures_are_randomised(backend: SoftwareBackend) -> None:
    signer = backend.load(KeyType.SM2, backend.generate(KeyType.SM2, "k"), "k")
    assert signer.sign(DATA) != signer.sign(DATA)  # fresh k each time (GB/T 32918.2 §6.1 A3)


def test_wrapped_key_reloads_in_a_new_process(backend: SoftwareBackend) -> None:
    reference = backend.generate(KeyType.SM2, "seal-2")
    first = backend.load(KeyType.SM2, reference, "seal-2")
    fresh = SoftwareBackend(backend.master)  # no cache: unwraps and parses the PKCS#8
    again = fresh.load(KeyType.SM2, reference, "seal-2")
    assert again.public_key() == first.public_key()
    verify_signature(first.public_key(), again.sign(DATA), DATA)
    assert b"1.2.156" not in reference  # the private key is never stored in clear


def test_wrong_key_type_on_load_is_refused(backend: SoftwareBackend) -> None:
    sm2_reference = backend.generate(KeyType.SM2, "a")
    ec_reference = backend.generate(KeyType.EC_P256, "b")
    fresh = SoftwareBackend(backend.master)
    with pytest.raises(KeyBackendError):
        fresh.load(KeyType.SM2, ec_reference, "b")
    with pytest.raises(UnsupportedAlgorithm):  # cryptography cannot even parse an SM2 PKCS#8
        fresh.load(KeyType.EC_P256, sm2_reference, "a")


def test_openssl_signature_verifies_here(tmp_path: Path) -> None:
    key = Sm2PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(pem.armor("PRIVATE KEY", key.pkcs8_der()))
    (tmp_path / "data").write_bytes(DATA)
    openssl(
        "dgst", "-sm3", "-sign", tmp_path / "key.pem", "-sigopt", DISTID,
        "-out", tmp_path / "sig", tmp_path / "data",
    )  # fmt: skip
    key.public_key().verify((tmp_path / "sig").read_bytes(), DATA, SM2WithSM3())
    # openssl reads our PKCS#8 and derives the same public key
    derived = openssl("pkey", "-in", tmp_path / "key.pem", "-pubout").stdout.encode()
    assert load_sm2_public_key(derived) == key.public_key()


def test_other_distinguishing_id_does_not_verify(tmp_path: Path) -> None:
    key = Sm2PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(pem.armor("PRIVATE KEY", key.pkcs8_der()))
    (tmp_path / "data").write_bytes(DATA)
    openssl(
        "dgst", "-sm3", "-sign", tmp_path / "key.pem", "-sigopt", "distid:alice@example",
        "-out", tmp_path / "sig", tmp_path / "data",
    )  # fmt: skip
    with pytest.raises(InvalidSignature):
        key.public_key().verify((tmp_path / "sig").read_bytes(), DATA, SM2WithSM3())
    assert DEFAULT_DISTID == b"1234567812345678"


def test_sm2_key_never_verifies_ecdsa() -> None:
    public = Sm2PrivateKey.generate().public_key()
    with pytest.raises(UnsupportedAlgorithm):
        public.verify(b"0", DATA, ec.ECDSA(hashes.SHA256()))


def test_key_type_helpers() -> None:
    public = Sm2PrivateKey.generate().public_key()
    assert key_type_of(public) is KeyType.SM2
    assert parse_key_type("sm2") is KeyType.SM2
    assert public.curve.name == "sm2" and public.key_size == 256
    assert (
        public.public_numbers().x.to_bytes(32, "big")
        == public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)[1:33]
    )
    with pytest.raises(UnsupportedKeyType):
        _ = KeyType.SM2.jose_alg
    with pytest.raises(UnsupportedKeyType):
        generate_private_key(KeyType.SM2)
    # the international types are unchanged
    assert [kind.jose_alg for kind in KeyType if kind is not KeyType.SM2] == [
        "ES256", "RS256", "RS256", "EdDSA",
    ]  # fmt: skip


def test_invalid_points_and_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        Sm2PublicKey(b"\x04" + bytes(64))
    p256 = generate_private_key(KeyType.EC_P256).public_key()
    with pytest.raises(ValueError):
        load_sm2_public_key(p256.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def test_pkcs11_backend_refuses_sm2() -> None:
    backend = Pkcs11Backend("/nonexistent/libsofthsm2.so", "token", "1234")
    for operation in (
        lambda: backend.generate(KeyType.SM2, "k"),
        lambda: backend.load(KeyType.SM2, b"ref", "k"),
        lambda: backend.sign_with(KeyType.SM2, b"ref", DATA),
    ):
        with pytest.raises(KeyBackendError, match="SM2"):
            operation()


# -- certificates --------------------------------------------------------------------------


def test_sm2_chain_checked_by_openssl(tmp_path: Path) -> None:
    root, ca = sm2_pki()
    leaf = sm2_issue("审批专用章", ca, LEAF)
    for certificate, issuer in ((root, root), (ca, root), (leaf, ca)):
        assert is_sm2_certificate(certificate.certificate)
        verify_sm2_certificate_signature(
            certificate.certificate, sm2_public_key_of(issuer.certificate)
        )
        assert openssl_check_certificate(tmp_path, certificate, issuer)
    text = openssl("x509", "-in", leaf.write(tmp_path / "leaf.pem"), "-noout", "-text").stdout
    assert text.count("Signature Algorithm: SM2-with-SM3") == 2
    assert "ASN1 OID: SM2" in text and "id-ecPublicKey" in text
    assert "Digital Signature, Non Repudiation" in text
    assert "CA:FALSE" in text and "X509v3 Authority Key Identifier" in text
    ca_text = openssl("x509", "-in", ca.write(tmp_path / "ca.pem"), "-noout", "-text").stdout
    assert "CA:TRUE, pathlen:0" in ca_text and "Certificate Sign, CRL Sign" in ca_text


def test_tampered_certificate_fails_everywhere(tmp_path: Path) -> None:
    root, ca = sm2_pki()
    leaf = sm2_issue("seal", ca, LEAF)
    der = bytearray(leaf.certificate.dump())
    index = der.index(b"seal")
    der[index] ^= 0x01
    from asn1crypto import x509 as asn1_x509

    forged = type(leaf)(asn1_x509.Certificate.load(bytes(der)), leaf.signer, "forged")
    with pytest.raises(InvalidSignature):
        verify_sm2_certificate_signature(forged.certificate, sm2_public_key_of(ca.certificate))
    assert not openssl_check_certificate(tmp_path, forged, ca)
    with pytest.raises(InvalidSignature):  # right bytes, wrong issuer
        verify_sm2_certificate_signature(leaf.certificate, sm2_public_key_of(root.certificate))


def test_cryptography_reads_sm2_certificates_lazily() -> None:
    _, ca = sm2_pki()
    loaded = x509.load_der_x509_certificate(ca.certificate.dump())
    assert loaded.signature_algorithm_oid.dotted_string == "1.2.156.10197.1.501"
    assert loaded.subject.rfc4514_string().startswith("CN=SM2 Test Seal CA")
    with pytest.raises(UnsupportedAlgorithm):
        loaded.public_key()  # why SM2 keys have their own loader
