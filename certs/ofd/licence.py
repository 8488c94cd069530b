"""A licence as a sealed OFD file, and what verifies it, from the key registry's SM2
hierarchy (``GOVTRUST_SM2_ENABLED``; purposes ``sm2-*`` in :mod:`keys.purposes`).

- :func:`sealed_licence_ofd`: the page model (:func:`certs.layout.licence_page`) as an OFD
  package (:mod:`certs.ofd.package`) with the seal on it (:mod:`certs.ofd.signature`), zipped.
- :func:`registry_trust`: the SM2 root and CAs the registry publishes as
  :class:`~seal.ses.verify.SesTrust`, with revocation read from the registry's issued
  certificates (there is no CRL or OCSP for the SM2 hierarchy; see :mod:`keys.purposes`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding

from certs.layout import LicencePage
from certs.ofd.package import licence_package
from certs.ofd.signature import OfdSealer, StampPlace, seal_ofd
from certs.ofd.xml import write_container
from keys.registry import KeyInfo, KeyRegistry
from seal.ses.verify import RevocationStatus, SesTrust

__all__ = ["registry_trust", "sealed_licence_ofd"]


def sealed_licence_ofd(
    page: LicencePage, font_path: Path, title: str, sealer: OfdSealer, now: datetime
) -> bytes:
    """The OFD file of ``page`` with ``sealer``'s seal at the page's seal box."""
    package = licence_package(page, font_path, title, now)
    files = seal_ofd(package.files, sealer, StampPlace(package.page_id, package.seal), now)
    return write_container(files)


def _asn1(key: KeyInfo) -> asn1_x509.Certificate:
    assert key.certificate is not None
    return asn1_x509.Certificate.load(key.certificate.public_bytes(Encoding.DER))


def registry_trust(keys: KeyRegistry) -> SesTrust:
    """Trust in the registry's SM2 hierarchy: its roots as anchors, its CAs as intermediates
    (every one still published), revocation from its issued-certificate records."""
    roots = [_asn1(key) for key in keys.published("sm2-root") if key.certificate]
    cas = [
        key
        for purpose in ("sm2-seal-ca", "sm2-service-ca", "sm2-root")
        for key in keys.published(purpose)
        if key.certificate
    ]
    kid_by_der = {_asn1(key).dump(): key.kid for key in cas}

    def revocation(
        certificate: asn1_x509.Certificate, issuer: asn1_x509.Certificate
    ) -> RevocationStatus:
        issuer_kid = kid_by_der.get(issuer.dump())
        if issuer_kid is None:
            return RevocationStatus.UNKNOWN
        with keys.sessions() as session:
            row = keys.storage.certificate(session, issuer_kid, certificate.serial_number)
        if row is None:
            return RevocationStatus.UNKNOWN
        return RevocationStatus.GOOD if row.revoked_at is None else RevocationStatus.REVOKED

    return SesTrust(
        roots=roots,
        intermediates=[_asn1(key) for key in cas if key.purpose != "sm2-root"],
        revocation=revocation,
    )
