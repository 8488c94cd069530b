"""What certificates and revocation data say, and the caller's inputs as asn1crypto objects.

- the seal's identity: the subject's O, serialNumber and CN (RFC 5280 §4.1.2.6), and the
  certificate serial number (§4.1.2.2);
- whether revocation data for a certificate is at hand: a CRL from its issuer (RFC 5280
  §5.1.2.3) or an OCSP response naming its serial number (RFC 6960 §4.2.1), and whether
  the certificate names a CRL distribution point (§4.2.1.13) or an OCSP responder
  (§4.2.2.1), the condition under which pyHanko's soft-fail mode consults them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypeAlias

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from seal.validation.report import SealInfo

__all__ = [
    "CertificateInput",
    "CrlInput",
    "OcspInput",
    "has_revinfo_for",
    "seal_info",
    "serial",
    "to_asn1_certificate",
    "to_asn1_crl",
    "to_asn1_ocsp",
    "utc",
    "was_revocation_checked",
]

#: A certificate as ``cryptography`` or ``asn1crypto`` has it.
CertificateInput: TypeAlias = "x509.Certificate | asn1_x509.Certificate"
#: A CRL as ``cryptography`` or ``asn1crypto`` has it, or its DER/PEM bytes.
CrlInput: TypeAlias = "x509.CertificateRevocationList | asn1_crl.CertificateList | bytes"
#: An OCSP response (RFC 6960 §4.2.1) as ``cryptography`` or ``asn1crypto`` has it, or DER.
OcspInput: TypeAlias = "ocsp.OCSPResponse | asn1_ocsp.OCSPResponse | bytes"


def seal_info(cert: asn1_x509.Certificate) -> SealInfo:
    """O, serialNumber (the USCC) and CN of the subject; None for what is absent."""
    try:
        subject: dict[str, Any] = dict(cert.subject.native)
    except Exception:
        return SealInfo(None, None, None)
    return SealInfo(
        organisation=_attribute(subject, "organization_name"),
        uscc=_attribute(subject, "serial_number"),
        seal_name=_attribute(subject, "common_name"),
    )


def _attribute(subject: dict[str, Any], name: str) -> str | None:
    value = subject.get(name)
    if value is None:
        return None
    if isinstance(value, list):  # the attribute appears more than once
        return ", ".join(str(item) for item in value)
    return str(value)


def serial(cert: asn1_x509.Certificate) -> str:
    """The certificate serial number (RFC 5280 §4.1.2.2) in upper-case hex."""
    return f"{int(cert.serial_number):X}"


def was_revocation_checked(
    cert: asn1_x509.Certificate,
    crls: Iterable[asn1_crl.CertificateList],
    ocsps: Iterable[asn1_ocsp.OCSPResponse],
) -> bool:
    """Whether pyHanko's soft-fail check had revocation data for ``cert`` to look at.

    It consults CRLs only for a certificate naming a distribution point, OCSP responses
    only for one naming a responder.
    """
    aia = cert.authority_information_access_value
    declares_ocsp = aia is not None and any(
        entry["access_method"].native == "ocsp" for entry in aia
    )
    declares_crl = cert.crl_distribution_points_value is not None
    return (declares_crl and any(_crl_covers(item, cert) for item in crls)) or (
        declares_ocsp and any(_ocsp_covers(item, cert) for item in ocsps)
    )


def has_revinfo_for(
    cert: asn1_x509.Certificate,
    crls: Iterable[asn1_crl.CertificateList],
    ocsps: Iterable[asn1_ocsp.OCSPResponse],
) -> bool:
    """Whether any of the CRLs or OCSP responses speaks about ``cert``."""
    return any(_crl_covers(item, cert) for item in crls) or any(
        _ocsp_covers(item, cert) for item in ocsps
    )


def _crl_covers(crl: asn1_crl.CertificateList, cert: asn1_x509.Certificate) -> bool:
    try:
        return bool(crl["tbs_cert_list"]["issuer"] == cert.issuer)
    except Exception:
        return False


def _ocsp_covers(response: asn1_ocsp.OCSPResponse, cert: asn1_x509.Certificate) -> bool:
    try:
        basic = response["response_bytes"]["response"].parsed
        return any(
            single["cert_id"]["serial_number"].native == cert.serial_number
            for single in basic["tbs_response_data"]["responses"]
        )
    except Exception:
        return False


def to_asn1_certificate(cert: CertificateInput) -> asn1_x509.Certificate:
    if isinstance(cert, x509.Certificate):
        return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
    return cert


def to_asn1_crl(item: CrlInput) -> asn1_crl.CertificateList:
    if isinstance(item, x509.CertificateRevocationList):
        return asn1_crl.CertificateList.load(item.public_bytes(Encoding.DER))
    if isinstance(item, bytes):
        return asn1_crl.CertificateList.load(_der(item))
    return item


def to_asn1_ocsp(item: OcspInput) -> asn1_ocsp.OCSPResponse:
    if isinstance(item, ocsp.OCSPResponse):
        return asn1_ocsp.OCSPResponse.load(item.public_bytes(Encoding.DER))
    if isinstance(item, bytes):
        return asn1_ocsp.OCSPResponse.load(item)
    return item


def _der(data: bytes) -> bytes:
    if pem.detect(data):
        _type, _headers, der = pem.unarmor(data)
        return bytes(der)
    return data


def utc(value: datetime) -> datetime:
    """Aware and in UTC; naive means UTC."""
    if value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
