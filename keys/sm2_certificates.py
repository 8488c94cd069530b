"""SM2 certificates (GM/T 0015-2012, the RFC 5280 profile with the national algorithms).

``cryptography`` cannot sign with SM2 nor hold an SM2 key in its builder, so the
``TBSCertificate`` (RFC 5280 §4.1) is built with asn1crypto and signed by a
:class:`~keys.backends.base.RawSigner` whose key stays in its backend:

- ``subjectPublicKeyInfo``: ``id-ecPublicKey`` with the named curve ``1.2.156.10197.1.301``
  (GM/T 0015-2012 §7.2.1.2, GM/T 0006-2012);
- ``signature`` / ``signatureAlgorithm``: ``1.2.156.10197.1.501`` SM2-with-SM3, parameters
  absent; ``signatureValue``: DER ``(r, s)`` over the DER ``TBSCertificate`` with the default
  ID ``1234567812345678`` (GM/T 0009-2012 §10);
- extensions as in :mod:`keys.certificates`: basicConstraints and keyUsage (critical), subject
  and authority key identifiers (RFC 5280 §4.2.1.2 method 1, SHA-1 of the public key bits),
  extended key usage where the purpose has one, and for a certificate issued by a CA the
  CRL distribution point of that CA (RFC 5280 §4.2.1.13; the SM2-signed CRL of
  :mod:`keys.sm2_crl`).

Not yet: AIA and OCSP (the OCSP responder signs with ``cryptography``, which has no SM2); the
SES verifier (:mod:`seal.ses.verify`) takes revocation status from a callable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import core
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keys.algorithms import KeyType
from keys.backends.base import RawSigner
from keys.purposes import Purpose
from keys.sm2 import OID_SM2_CURVE, OID_SM2_WITH_SM3, Sm2PublicKey, load_sm2_public_key

__all__ = [
    "Sm2CertificateError",
    "Sm2Issuer",
    "build_sm2_certificate",
    "is_sm2_certificate",
    "sm2_public_key_of",
    "verify_sm2_certificate_signature",
]

BACKDATE = timedelta(minutes=5)
_UTC_TIME_LIMIT = datetime(2050, 1, 1, tzinfo=UTC)  # RFC 5280 §4.1.2.5


class Sm2CertificateError(ValueError):
    """Not an SM2 certificate, or its issuer is not an SM2 CA."""


@dataclass(frozen=True)
class Sm2Issuer:
    kid: str
    certificate: asn1_x509.Certificate
    signer: RawSigner


def _time(moment: datetime) -> asn1_x509.Time:
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if moment < _UTC_TIME_LIMIT:
        return asn1_x509.Time(name="utc_time", value=moment)
    return asn1_x509.Time(name="general_time", value=moment)


def _key_identifier(spki: asn1_keys.PublicKeyInfo) -> bytes:
    """RFC 5280 §4.2.1.2 (1): SHA-1 of the subjectPublicKey BIT STRING value."""
    return hashlib.sha1(spki["public_key"].contents[1:], usedforsecurity=False).digest()


def _key_usage(purpose: Purpose) -> set[str]:
    usage = {"digital_signature"}
    if purpose.non_repudiation:
        usage.add("non_repudiation")
    if purpose.is_ca:
        usage |= {"key_cert_sign", "crl_sign"}
    return usage


def _extension(name: str, value: object, critical: bool) -> asn1_x509.Extension:
    return asn1_x509.Extension({"extn_id": name, "critical": critical, "extn_value": value})


def build_sm2_certificate(
    *,
    subject: x509.Name,
    public_key: Sm2PublicKey,
    purpose: Purpose,
    issuer: Sm2Issuer | None,
    self_signer: RawSigner | None = None,
    now: datetime,
    lifetime: timedelta,
    serial: int | None = None,
    crl_url: str | None = None,
) -> asn1_x509.Certificate:
    """An SM2 CA or end-entity certificate for ``purpose``; self-signed when ``issuer`` is
    None (then ``self_signer`` holds the subject's own key). ``crl_url``: where the issuer's
    CRL is published (a cRLDistributionPoints extension, RFC 5280 §4.2.1.13)."""
    signer = issuer.signer if issuer is not None else self_signer
    if signer is None:
        raise Sm2CertificateError("a self-signed certificate needs its own signer")
    if signer.key_type is not KeyType.SM2:
        raise Sm2CertificateError(f"an SM2 certificate is signed by an SM2 key, not {signer}")
    spki = asn1_keys.PublicKeyInfo.load(
        public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    subject_name = asn1_x509.Name.load(subject.public_bytes())
    not_after = now + lifetime
    if issuer is not None:  # never outlive the issuer (RFC 5280 §6.1.3)
        not_after = min(not_after, issuer.certificate.not_valid_after)
    path_length = None if purpose.name.endswith("root") else (0 if purpose.is_ca else None)
    constraints: dict[str, object] = {"ca": purpose.is_ca}
    if path_length is not None and purpose.is_ca:
        constraints["path_len_constraint"] = path_length
    extensions = [
        _extension("basic_constraints", constraints, True),
        _extension("key_usage", _key_usage(purpose), True),
        _extension("key_identifier", _key_identifier(spki), False),
    ]
    if issuer is not None:
        issuer_spki = issuer.certificate["tbs_certificate"]["subject_public_key_info"]
        extensions.append(
            _extension(
                "authority_key_identifier", {"key_identifier": _key_identifier(issuer_spki)}, False
            )
        )
    if crl_url is not None:
        uri = asn1_x509.GeneralName(name="uniform_resource_identifier", value=crl_url)
        point = {"distribution_point": {"full_name": [uri]}}
        extensions.append(_extension("crl_distribution_points", [point], False))
    if purpose.extended_key_usage:
        extensions.append(
            _extension(
                "extended_key_usage",
                [oid.dotted_string for oid in purpose.extended_key_usage],
                purpose.critical_eku,
            )
        )
    algorithm = asn1_x509.SignedDigestAlgorithm({"algorithm": OID_SM2_WITH_SM3})
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial or x509.random_serial_number(),
            "signature": algorithm,
            "issuer": issuer.certificate.subject if issuer is not None else subject_name,
            "validity": {"not_before": _time(now - BACKDATE), "not_after": _time(not_after)},
            "subject": subject_name,
            "subject_public_key_info": spki,
            "extensions": extensions,
        }
    )
    signature = signer.sign(tbs.dump())
    return asn1_x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature}
    )


def is_sm2_certificate(certificate: asn1_x509.Certificate) -> bool:
    algorithm = certificate["tbs_certificate"]["subject_public_key_info"]["algorithm"]
    parameters = algorithm["parameters"]
    return bool(
        algorithm["algorithm"].native == "ec"
        and parameters.name == "named"
        and parameters.chosen.dotted == OID_SM2_CURVE
    )


def sm2_public_key_of(certificate: asn1_x509.Certificate) -> Sm2PublicKey:
    if not is_sm2_certificate(certificate):
        raise Sm2CertificateError(
            "not an SM2 certificate (key is not on curve 1.2.156.10197.1.301)"
        )
    return load_sm2_public_key(certificate["tbs_certificate"]["subject_public_key_info"].dump())


def verify_sm2_certificate_signature(
    certificate: asn1_x509.Certificate, issuer_public_key: Sm2PublicKey
) -> None:
    """Raise :class:`InvalidSignature` unless ``certificate`` is signed SM2-with-SM3 (outer and
    inner algorithm identifiers alike, RFC 5280 §4.1.1.2) by ``issuer_public_key``."""
    outer = certificate["signature_algorithm"]["algorithm"].dotted
    inner = certificate["tbs_certificate"]["signature"]["algorithm"].dotted
    if outer != OID_SM2_WITH_SM3 or inner != OID_SM2_WITH_SM3:
        raise InvalidSignature(f"certificate is signed with {outer}, not SM2-with-SM3")
    signature = certificate["signature_value"]
    value = signature.native if isinstance(signature, core.OctetBitString) else b""
    issuer_public_key.verify_sm2(value, certificate["tbs_certificate"].dump())
