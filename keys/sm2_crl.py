"""CRLs of the SM2 CAs (RFC 5280 §5 with the national algorithms of GM/T 0015-2012).

``cryptography`` cannot sign a CRL with SM2, so the ``TBSCertList`` (RFC 5280 §5.1.2) is built
with asn1crypto, as :mod:`keys.sm2_certificates` builds certificates, and signed by the CA's
:class:`~keys.backends.base.RawSigner`:

- ``version`` v2 (§5.1.2.1), ``issuer`` the CA certificate's subject (§5.1.2.3),
  ``thisUpdate`` and ``nextUpdate`` always present (§5.1.2.4, §5.1.2.5), UTCTime before 2050;
- ``signature`` / ``signatureAlgorithm``: ``1.2.156.10197.1.501`` SM2-with-SM3, parameters
  absent (GM/T 0006-2012; GM/T 0015-2012 §7.1); ``signatureValue``: DER ``(r, s)`` over the DER
  ``TBSCertList`` with the default ID ``1234567812345678`` (GM/T 0009-2012 §10);
- the CRL extensions RFC 5280 §5.2 makes mandatory: authorityKeyIdentifier (§5.2.1, the
  CA's subjectKeyIdentifier) and cRLNumber (§5.2.3); a reasonCode per entry (§5.3.1), absent
  for ``unspecified``; ``removeFromCRL`` (delta CRLs only) refused.

The same checks as :func:`keys.crl.build_crl`: the signer holds the CA certificate's key, and
the CA's keyUsage has cRLSign (§4.2.1.3).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keys.algorithms import KeyType
from keys.backends.base import RawSigner
from keys.crl import RevokedCertificate
from keys.sm2 import OID_SM2_WITH_SM3
from keys.sm2_certificates import Sm2CertificateError

__all__ = ["build_sm2_crl"]

#: RFC 5280 §5.2.3: "CRLNumber ::= INTEGER (0..MAX)", at most 20 octets.
_MAX_CRL_NUMBER = (1 << 159) - 1
_UTC_TIME_LIMIT = datetime(2050, 1, 1, tzinfo=UTC)  # RFC 5280 §5.1.2.4


def _time(moment: datetime) -> asn1_x509.Time:
    moment = moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment.astimezone(UTC)
    moment = moment.replace(microsecond=0)
    if moment < _UTC_TIME_LIMIT:
        return asn1_x509.Time(name="utc_time", value=moment)
    return asn1_x509.Time(name="general_time", value=moment)


def _entry(entry: RevokedCertificate) -> asn1_crl.RevokedCertificate:
    """userCertificate, revocationDate and reasonCode (RFC 5280 §5.1.2.6, §5.3.1)."""
    if entry.reason is x509.ReasonFlags.remove_from_crl:
        raise ValueError("removeFromCRL may appear only in delta CRLs (RFC 5280 §5.3.1)")
    value: dict[str, object] = {
        "user_certificate": entry.serial,
        "revocation_date": _time(entry.revoked_at),
    }
    if entry.reason is not None and entry.reason is not x509.ReasonFlags.unspecified:
        value["crl_entry_extensions"] = [
            {"extn_id": "crl_reason", "critical": False, "extn_value": entry.reason.name}
        ]
    return asn1_crl.RevokedCertificate(value)


def build_sm2_crl(
    issuer: asn1_x509.Certificate,
    signer: RawSigner,
    revoked: Iterable[RevokedCertificate],
    *,
    number: int,
    this_update: datetime,
    next_update: datetime,
) -> asn1_crl.CertificateList:
    """A CRL issued by the SM2 CA ``issuer`` and signed by ``signer`` (its own key).

    Raises :class:`ValueError` (``Sm2CertificateError`` for a non-SM2 signer) as
    :func:`keys.crl.build_crl` does: ``next_update`` not after ``this_update``, ``number``
    out of range, a signer whose key is not the issuer's, an issuer without cRLSign, a
    serial listed twice, or ``removeFromCRL``.
    """
    if signer.key_type is not KeyType.SM2:
        raise Sm2CertificateError(f"an SM2 CA's CRL is signed by an SM2 key, not {signer}")
    if _time(next_update).native <= _time(this_update).native:
        raise ValueError("next_update must be later than this_update (RFC 5280 §5.1.2.5)")
    if not 0 <= number <= _MAX_CRL_NUMBER:
        raise ValueError("CRL number must be a non-negative integer of at most 20 octets")
    tbs_certificate = issuer["tbs_certificate"]
    spki = asn1_keys.PublicKeyInfo.load(
        signer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    if spki.dump() != tbs_certificate["subject_public_key_info"].dump():
        raise ValueError("the signer's public key is not the issuer certificate's key")
    usage = issuer.key_usage_value
    if usage is not None and "crl_sign" not in usage.native:
        raise ValueError("the issuer certificate's keyUsage lacks cRLSign (RFC 5280 §4.2.1.3)")
    key_identifier = issuer.key_identifier
    if key_identifier is None:
        raise ValueError("the issuer certificate has no subjectKeyIdentifier (RFC 5280 §5.2.1)")

    entries: list[asn1_crl.RevokedCertificate] = []
    seen: set[int] = set()
    for entry in revoked:
        if entry.serial in seen:
            raise ValueError(f"serial {entry.serial:#x} is listed twice")
        seen.add(entry.serial)
        entries.append(_entry(entry))
    algorithm = {"algorithm": OID_SM2_WITH_SM3}
    tbs: dict[str, object] = {
        "version": "v2",
        "signature": algorithm,
        "issuer": tbs_certificate["subject"],
        "this_update": _time(this_update),
        "next_update": _time(next_update),
        "crl_extensions": [
            {
                "extn_id": "authority_key_identifier",
                "critical": False,
                "extn_value": {"key_identifier": key_identifier},
            },
            {"extn_id": "crl_number", "critical": False, "extn_value": number},
        ],
    }
    if entries:  # §5.1.2.6: absent, not empty, when nothing is revoked
        tbs["revoked_certificates"] = entries
    tbs_cert_list = asn1_crl.TbsCertList(tbs)
    signature = signer.sign(tbs_cert_list.dump())
    return asn1_crl.CertificateList(
        {
            "tbs_cert_list": tbs_cert_list,
            "signature_algorithm": algorithm,
            "signature": signature,
        }
    )
