"""Certificate profiles (RFC 5280 §4.2) for the CAs and the service's own keys.

Every certificate names where to check it: a CRL distribution point (§4.2.1.13) and an OCSP
responder plus the issuer's certificate in Authority Information Access (§4.2.2.1), all on
this service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from keys.backends.base import RawSigner
from keys.purposes import Purpose
from keys.x509_signing import sign_certificate

BACKDATE = timedelta(minutes=5)


@dataclass(frozen=True)
class PkiUrls:
    """Where relying parties fetch revocation data and issuer certificates."""

    base: str

    def crl(self, issuer_kid: str) -> str:
        return f"{self.base.rstrip('/')}/pki/crl/{issuer_kid}.crl"

    def ca_certificate(self, issuer_kid: str) -> str:
        return f"{self.base.rstrip('/')}/pki/ca/{issuer_kid}.crt"

    @property
    def ocsp(self) -> str:
        return f"{self.base.rstrip('/')}/pki/ocsp"


@dataclass(frozen=True)
class Issuer:
    kid: str
    certificate: x509.Certificate
    signer: RawSigner


def subject_name(
    organization: str, common_name: str, extra: dict[str, str] | None = None
) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
    ]
    for oid_name, value in (extra or {}).items():
        attributes.append(x509.NameAttribute(getattr(NameOID, oid_name), value))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _key_usage(*, ca: bool, non_repudiation: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def build_certificate(
    *,
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    purpose: Purpose,
    issuer: Issuer | None,
    self_signer: RawSigner | None = None,
    now: datetime,
    lifetime: timedelta,
    urls: PkiUrls,
) -> x509.Certificate:
    """A CA or end-entity certificate for ``purpose``; self-signed when ``issuer`` is None."""
    not_after = now + lifetime
    if issuer is not None:
        # A certificate never outlives its issuer (RFC 5280 §6.1.3 would reject it later).
        not_after = min(not_after, issuer.certificate.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(
            x509.BasicConstraints(
                ca=purpose.is_ca,
                path_length=None if purpose.name == "root" else (0 if purpose.is_ca else None),
            ),
            critical=True,
        )
        .add_extension(
            _key_usage(ca=purpose.is_ca, non_repudiation=purpose.non_repudiation), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if purpose.extended_key_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(purpose.extended_key_usage)), critical=purpose.critical_eku
        )
    if purpose.name == "ocsp":
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    if issuer is None:
        if self_signer is None:
            raise ValueError("a self-signed certificate needs its own signer")
        return sign_certificate(builder, self_signer)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer.certificate.public_key()  # type: ignore[arg-type]
        ),
        critical=False,
    )
    if purpose.name != "ocsp":
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(urls.crl(issuer.kid))],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(urls.ocsp),
                    ),
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(urls.ca_certificate(issuer.kid)),
                    ),
                ]
            ),
            critical=False,
        )
    return sign_certificate(builder, issuer.signer)
