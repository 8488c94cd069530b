"""What each key is for, who certifies it, and how long it stays published.

The hierarchy (RFC 5280 profiles)::

    root CA (self-signed, 20 years)
    ├── seal CA      issues seal certificates (digitalSignature + nonRepudiation)
    └── service CA   issues the service's own certificates:
                     licence signing, timestamp authority, OCSP responders

Token-signing keys (JWKS) and audit-checkpoint keys (signed notes, Ed25519) have no
certificate: relying parties get them from the JWKS and the trust bundle.

Beside it, when ``GOVTRUST_SM2_ENABLED`` is on, a second hierarchy in the national algorithms
(国密; GM/T 0015-2012 certificates, SM2-with-SM3, issue #12), every key fixed to SM2 and
kept in the software backend (see :mod:`keys.sm2`)::

    sm2-root (self-signed, 20 years)
    ├── sm2-seal-ca     issues the seal maker's certificate and per-seal certificates
    │   ├── sm2-seal-maker   制章人: signs GB/T 38540 ``SES_SealInfo``
    │   └── sm2-seal         one per seal (签章人 of GB/T 38540 signatures)
    └── sm2-service-ca  issues the SM2 licence-signing key
        └── sm2-licence      signs licences in the national algorithms (OFD seals)

Its CAs publish SM2-signed CRLs (:mod:`keys.sm2_crl`, named in each issued certificate's CRL
distribution point); no OCSP responder is made for it (OCSP is signed with ``cryptography``,
which has no SM2). The GB/T 38540 verifier takes revocation from the registry's issued
certificates.

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

    @property
    def sm2(self) -> bool:
        """Part of the SM2 hierarchy (made only when ``GOVTRUST_SM2_ENABLED`` is on)."""
        return self.fixed_key_type is KeyType.SM2


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
        Purpose(
            "sm2-root",
            "SM2 Root CA",
            is_ca=True,
            certificate_lifetime=20 * YEAR,
            rotatable=False,
            fixed_key_type=KeyType.SM2,
        ),
        Purpose(
            "sm2-seal-ca",
            "SM2 Seal CA",
            is_ca=True,
            issuer="sm2-root",
            certificate_lifetime=10 * YEAR,
            fixed_key_type=KeyType.SM2,
        ),
        Purpose(
            "sm2-service-ca",
            "SM2 Service CA",
            is_ca=True,
            issuer="sm2-root",
            certificate_lifetime=10 * YEAR,
            fixed_key_type=KeyType.SM2,
        ),
        Purpose(
            "sm2-seal-maker",
            "SM2 Seal maker",
            issuer="sm2-seal-ca",
            certificate_lifetime=5 * YEAR,
            non_repudiation=True,
            fixed_key_type=KeyType.SM2,
        ),
        Purpose(
            "sm2-seal",
            "SM2 Electronic seal",
            issuer="sm2-seal-ca",
            certificate_lifetime=3 * YEAR,
            non_repudiation=True,
            rotatable=False,
            per_object=True,
            fixed_key_type=KeyType.SM2,
        ),
        Purpose(
            "sm2-licence",
            "SM2 Licence signing",
            issuer="sm2-service-ca",
            certificate_lifetime=5 * YEAR,
            prepublish=True,
            non_repudiation=True,
            fixed_key_type=KeyType.SM2,
        ),
    )
}

#: The SM2 hierarchy's CAs, root first.
SM2_CA_PURPOSES = ("sm2-root", "sm2-seal-ca", "sm2-service-ca")

CA_PURPOSES = ("seal-ca", "service-ca")


def get_purpose(name: str) -> Purpose:
    try:
        return PURPOSES[name]
    except KeyError as exc:
        known = ", ".join(PURPOSES)
        raise UnknownPurpose(f"unknown key purpose {name!r}; known purposes: {known}") from exc
