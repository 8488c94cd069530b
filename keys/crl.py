"""Certificate revocation lists (RFC 5280 §5), signed by a key that may live in an HSM.

:func:`build_crl` produces a complete X.509 v2 CRL for one issuing CA:

- ``issuer`` is the CA certificate's subject (§5.1.2.3), ``thisUpdate``/``nextUpdate``
  the caller's times (§5.1.2.4, §5.1.2.5; nextUpdate is always present, as §5.1.2.5
  requires of conforming issuers);
- the CRL extensions are the two that §5.2 makes mandatory: AuthorityKeyIdentifier
  (§5.2.1, copied from the CA's SubjectKeyIdentifier so that it matches the key
  identifier relying parties chain on) and CRLNumber (§5.2.3);
- each entry carries a reasonCode (§5.3.1) when a reason is known. ``unspecified`` is
  written as an absent reasonCode, as §5.3.1 asks; ``removeFromCRL`` belongs only in delta
  CRLs, which this module does not produce, and is refused.

The signature comes from :func:`keys.x509_signing.sign_crl`, so the key never leaves its
backend.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keys.backends.base import RawSigner
from keys.x509_signing import sign_crl

#: RFC 5280 §5.2.3: "CRLNumber ::= INTEGER (0..MAX)", at most 20 octets.
_MAX_CRL_NUMBER = (1 << 159) - 1


@dataclass(frozen=True)
class RevokedCertificate:
    """One revokedCertificates entry (RFC 5280 §5.1.2.6) with an optional reason (§5.3.1)."""

    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags | None = None


def build_crl(
    issuer: x509.Certificate,
    signer: RawSigner,
    revoked: Iterable[RevokedCertificate],
    *,
    number: int,
    this_update: datetime,
    next_update: datetime,
) -> x509.CertificateRevocationList:
    """A CRL issued by ``issuer`` and signed by ``signer`` (the issuer's own key).

    Naive datetimes are taken as UTC (as ``cryptography`` and SQLite-read rows have them).
    Raises :class:`ValueError` when ``next_update`` is not after ``this_update``, ``number``
    is outside RFC 5280 §5.2.3's range, the signer's public key is not the issuer
    certificate's, the issuer's keyUsage forbids cRLSign (§4.2.1.3), a serial is listed
    twice, or an entry's reason is ``removeFromCRL``.
    """
    this_update, next_update = _utc(this_update), _utc(next_update)
    if next_update <= this_update:
        raise ValueError("next_update must be later than this_update (RFC 5280 §5.1.2.5)")
    if not 0 <= number <= _MAX_CRL_NUMBER:
        raise ValueError("CRL number must be a non-negative integer of at most 20 octets")
    if _spki(signer.public_key()) != _spki(issuer.public_key()):
        raise ValueError("the signer's public key is not the issuer certificate's key")
    _require_crl_sign(issuer)

    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(_authority_key_identifier(issuer), critical=False)
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    seen: set[int] = set()
    for entry in revoked:
        if entry.serial in seen:
            raise ValueError(f"serial {entry.serial:#x} is listed twice")
        seen.add(entry.serial)
        builder = builder.add_revoked_certificate(_entry(entry))
    return sign_crl(builder, signer)


def _entry(entry: RevokedCertificate) -> x509.RevokedCertificate:
    """One entry: userCertificate, revocationDate and reasonCode (RFC 5280 §5.3.1)."""
    if entry.reason is x509.ReasonFlags.remove_from_crl:
        raise ValueError("removeFromCRL may appear only in delta CRLs (RFC 5280 §5.3.1)")
    builder = (
        x509.RevokedCertificateBuilder()
        .serial_number(entry.serial)
        .revocation_date(_utc(entry.revoked_at))
    )
    if entry.reason is not None and entry.reason is not x509.ReasonFlags.unspecified:
        builder = builder.add_extension(x509.CRLReason(entry.reason), critical=False)
    return builder.build()


def _authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """keyIdentifier equal to the issuer's subjectKeyIdentifier (RFC 5280 §4.2.1.1)."""
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer.public_key()  # type: ignore[arg-type]
        )
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _require_crl_sign(issuer: x509.Certificate) -> None:
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.crl_sign:
        raise ValueError("the issuer certificate's keyUsage lacks cRLSign (RFC 5280 §4.2.1.3)")


def _spki(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _utc(value: datetime) -> datetime:
    """In UTC, naive meaning UTC, in whole seconds: CRL times carry no fractions (§5.1.2.4)."""
    value = value.replace(tzinfo=UTC) if value.utcoffset() is None else value.astimezone(UTC)
    return value.replace(microsecond=0)
