"""A throwaway PKI for keys/ tests: a root, an issuing CA, and leaves with chosen usages.

Built straight from ``cryptography`` so that tests of the CRL, OCSP and TSA code do not
depend on the CA code they sit beside.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keys.algorithms import KeyType, generate_private_key, key_type_of, sign_with_private_key
from keys.x509_signing import sign_certificate

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


class MemorySigner:
    """A RawSigner over an in-memory key (test only)."""

    def __init__(self, key: PrivateKeyTypes) -> None:
        self.key = key

    @property
    def key_type(self) -> KeyType:
        return key_type_of(self.key.public_key())

    def public_key(self) -> PublicKeyTypes:
        return self.key.public_key()

    def sign(self, data: bytes) -> bytes:
        return sign_with_private_key(self.key, data)


@dataclass
class Issued:
    certificate: x509.Certificate
    signer: MemorySigner

    def pem(self) -> bytes:
        return self.certificate.public_bytes(Encoding.PEM)

    def write(self, path: Path) -> Path:
        path.write_bytes(self.pem())
        return path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "govtrust test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def issue(
    common_name: str,
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    eku: list[x509.ObjectIdentifier] | None = None,
    critical_eku: bool = False,
    key_type: KeyType = KeyType.EC_P256,
    serial: int | None = None,
    days: int = 365,
    ocsp_nocheck: bool = False,
) -> Issued:
    signer = MemorySigner(generate_private_key(key_type))
    subject = _name(common_name)
    issuer_signer = issuer.signer if issuer else signer
    issuer_name = issuer.certificate.subject if issuer else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(signer.public_key())  # type: ignore[arg-type]
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(signer.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.signer.public_key()  # type: ignore[arg-type]
            ),
            critical=False,
        )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=critical_eku)
    if ocsp_nocheck:
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    return Issued(sign_certificate(builder, issuer_signer), signer)


def test_pki(key_type: KeyType = KeyType.EC_P256) -> tuple[Issued, Issued]:
    """(root, issuing CA)."""
    root = issue("Test Root CA", ca=True, key_type=key_type, days=3650)
    return root, issue("Test Issuing CA", root, ca=True, key_type=key_type, days=1825)


TIME_STAMPING = ExtendedKeyUsageOID.TIME_STAMPING
OCSP_SIGNING = ExtendedKeyUsageOID.OCSP_SIGNING

__test__ = False  # not a test module (its test_pki is a factory)
