"""What each key is for, who certifies it, and how long it stays published.

The hierarchy (RFC 5280 profiles)::

    root CA (self-signed, 20 years)
    ├── seal CA      issues seal certificates (digitalSignature + nonRepudiation)
    └── service CA   issues the service's own certificates:
                     licence signing, timestamp authority, OCSP responders

Token-signing keys (JWKS) and audit-checkpoint keys (signed notes, Ed25519) have no
certificate: relying parties get them from the JWKS and the trust bundle.

``prepublish``: the next key is generated and published before it signs anything, so that
relying parties that cache the JWKS or trust list already know it at rotation time.
``per_ca``: one key per CA, certified by that CA (delegated OCSP responders, RFC 6960
§4.2.2.2). ``published_after_retirement``: how long a retired key stays published, at least
as long as anything it signed is valid (token lifetime; for certified keys their
certificate's expiry).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from keys.algorithms import KeyType


class UnknownPurpose(ValueError):
    pass


@dataclass(frozen=True)
class Purpose:
    name: str
    title: str
    is_ca: bool = False
    issuer: str | None = None
    certificate_lifetime: timedelta | None = None
    prepublish: bool = False
    published_after_retirement: timedelta = timedelta(days=1)
    fixed_key_type: KeyType | None = None
    extended_key_usage: tuple[x509.ObjectIdentifier, ...] = ()
    critical_eku: bool = False
    non_repudiation: bool = False
    rotatable: bool = True
    per_ca: bool = False
    per_object: bool = False  # one key per seal (or other object), made on demand, not by init

    @property
    def certified(self) -> bool:
        return self.certificate_lifetime is not None


YEAR = timedelta(days=365)

PURPOSES: dict[str, Purpose] = {
    purpose.name: purpose
    for purpose in (
        Purpose("root", "Root CA", is_ca=True, certificate_lifetime=20 * YEAR, rotatable=False),
        Purpose("seal-ca", "Seal CA", is_ca=True, issuer="root", certificate_lifetime=10 * YEAR),
        Purpose(
            "service-ca", "Service CA", is_ca=True, issuer="root", certificate_lifetime=10 * YEAR
        ),
        Purpose("token", "Token signing (JWKS)", prepublish=True),
        Purpose(
            "licence",
            "Licence signing",
            issuer="service-ca",
            certificate_lifetime=5 * YEAR,
            prepublish=True,
            non_repudiation=True,
        ),
        Purpose(
            "tsa",
            "Timestamp authority",
            issuer="service-ca",
            certificate_lifetime=5 * YEAR,
            extended_key_usage=(ExtendedKeyUsageOID.TIME_STAMPING,),
            critical_eku=True,
        ),
        Purpose(
            "ocsp",
            "OCSP responder",
            certificate_lifetime=YEAR,
            extended_key_usage=(ExtendedKeyUsageOID.OCSP_SIGNING,),
            per_ca=True,
        ),
        Purpose(
            "seal",
            "Electronic seal",
            issuer="seal-ca",
            certificate_lifetime=3 * YEAR,
            non_repudiation=True,
            rotatable=False,
            per_object=True,
        ),
        Purpose(
            "audit",
            "Audit checkpoints (signed notes)",
            prepublish=True,
            fixed_key_type=KeyType.ED25519,
            published_after_retirement=100 * YEAR,
        ),
    )
}

CA_PURPOSES = ("seal-ca", "service-ca")


def get_purpose(name: str) -> Purpose:
    try:
        return PURPOSES[name]
    except KeyError as exc:
        known = ", ".join(PURPOSES)
        raise UnknownPurpose(f"unknown key purpose {name!r}; known purposes: {known}") from exc
