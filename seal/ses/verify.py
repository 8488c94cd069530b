"""Verify a GB/T 38540-2020 electronic signature: the eight checks of the standard's
verification procedure (电子签章验证流程), each reported as its own field.

1. ``format``: the data decodes as ``SES_Signature`` version 4 (header ``ES``, version 4 in
   the header and in ``TBS_Sign``, SM2-with-SM3 algorithm identifiers, a known certListType).
2. ``signature``: the signer's SM2 signature over the DER ``TBS_Sign`` verifies with the
   public key of ``SES_Signature.cert``.
3. ``signer_certificate``: the signer's certificate chains to a trusted SM2 root (each link's
   SM2 signature, CA constraints, validity at the signing time) and none of the chain is
   revoked, as far as revocation data is available (``signer_revocation`` says which).
4. ``seal_signature``: the seal maker's signature over the DER ``SES_SealInfo`` verifies, and
   the maker's certificate chains to a trusted root.
5. ``seal_validity``: the signing time (``timeInfo``) lies within ``validStart..validEnd``.
6. ``signer_in_seal``: the signer's certificate is in the seal's ``certList`` (or its SM3
   digest is, for certListType 2).
7. ``timestamp``: if present, the RFC 3161 token is over the signature value and signed by a
   trusted TSA (``absent`` is not a failure).
8. ``data_hash``: SM3 of the given data equals ``dataHash``.

The result is a frozen dataclass in the style of pyHanko's validation statuses;
``failed_checks`` names the checks that failed, in the order above.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from keys.sm2 import OID_SM2_WITH_SM3, sm3
from keys.sm2_certificates import (
    Sm2CertificateError,
    sm2_public_key_of,
    verify_sm2_certificate_signature,
)
from seal.ses.asn1 import (
    CERT_DIGEST_LIST,
    CERT_LIST,
    SES_HEADER_ID,
    SES_VERSION,
    CertDigestList,
    CertInfoList,
    SES_Signature,
)
from seal.ses.timestamp import TimestampError, verify_timestamp

__all__ = [
    "CHECKS",
    "RevocationStatus",
    "SesTrust",
    "SesVerification",
    "verify_ses_signature",
]

CHECKS = (
    "format",
    "signature",
    "signer_certificate",
    "seal_signature",
    "seal_validity",
    "signer_in_seal",
    "timestamp",
    "data_hash",
)
_MAX_CHAIN = 6


class RevocationStatus(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"  # no revocation data for this certificate


#: (certificate, its issuer) -> status; e.g. a lookup in the key registry's issued certificates.
RevocationCheck = Callable[[asn1_x509.Certificate, asn1_x509.Certificate], RevocationStatus]


@dataclass(frozen=True)
class SesTrust:
    """What the verifier trusts: SM2 root certificates, intermediate CAs to build chains
    with, pinned TSA certificates, and where to ask about revocation."""

    roots: Sequence[asn1_x509.Certificate]
    intermediates: Sequence[asn1_x509.Certificate] = ()
    tsa_certificates: Sequence[x509.Certificate] = ()
    revocation: RevocationCheck | None = None


@dataclass(frozen=True)
class SesVerification:
    format_ok: bool
    signature_valid: bool
    signer_trusted: bool
    signer_revocation: RevocationStatus
    seal_signature_valid: bool
    seal_maker_trusted: bool
    signed_within_seal_validity: bool
    signer_in_seal: bool
    timestamp: str  # "absent", "valid" or "invalid"
    data_hash_ok: bool
    signing_time: datetime | None = None
    timestamp_time: datetime | None = None
    seal_id: str | None = None
    seal_name: str | None = None
    problems: tuple[tuple[str, str], ...] = field(default=())

    @property
    def failed_checks(self) -> tuple[str, ...]:
        failed = {name for name, _ in self.problems}
        return tuple(name for name in CHECKS if name in failed)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def summary(self) -> str:
        if self.valid:
            return "valid"
        return "; ".join(f"{name}: {why}" for name, why in self.problems)


def _certificate(der: bytes) -> asn1_x509.Certificate:
    certificate = asn1_x509.Certificate.load(der, strict=True)
    _ = certificate.native
    return certificate


def _format_problem(signature: SES_Signature) -> str | None:
    to_sign = signature["to_sign"]
    seal = to_sign["eseal"]
    header = seal["e_seal_info"]["header"]
    if header["id"].native != SES_HEADER_ID:
        return f"seal header ID is {header['id'].native!r}, not 'ES'"
    if header["version"].native != SES_VERSION or to_sign["version"].native != SES_VERSION:
        return "not a version 4 seal and signature (GB/T 38540-2020)"
    for name, oid in (
        ("signature", signature["signature_algorithm"].dotted),
        ("seal", seal["sign_alg_id"].dotted),
    ):
        if oid != OID_SM2_WITH_SM3:
            return f"{name} algorithm {oid} is not SM2-with-SM3"
    if seal["e_seal_info"]["property"]["cert_list_type"].native not in (
        CERT_LIST,
        CERT_DIGEST_LIST,
    ):
        return "unknown certListType"
    return None


def _decode(data: bytes) -> tuple[SES_Signature, asn1_x509.Certificate, asn1_x509.Certificate]:
    signature = SES_Signature.load(data, strict=True)
    _ = signature.native  # asn1crypto parses lazily: force every field now
    if signature.dump(force=True) != data:
        raise ValueError("not DER")
    signer = _certificate(signature["cert"].native)
    maker = _certificate(signature["to_sign"]["eseal"]["cert"].native)
    return signature, signer, maker


def _issuer_of(
    certificate: asn1_x509.Certificate, candidates: Sequence[asn1_x509.Certificate]
) -> asn1_x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject != certificate.issuer:
            continue
        aki = certificate.authority_key_identifier
        if aki is not None and candidate.key_identifier not in (None, aki):
            continue
        return candidate
    return None


def _within(certificate: asn1_x509.Certificate, moment: datetime) -> bool:
    validity = certificate["tbs_certificate"]["validity"]
    return bool(validity["not_before"].native <= moment <= validity["not_after"].native)


def _chain(
    leaf: asn1_x509.Certificate, trust: SesTrust, moment: datetime
) -> tuple[str | None, RevocationStatus]:
    """Problem with the chain of ``leaf`` (None if none), and its revocation status."""
    if not _within(leaf, moment):
        return "certificate not valid at the signing time", RevocationStatus.UNKNOWN
    usage = leaf.key_usage_value
    if usage is not None and not ({"digital_signature", "non_repudiation"} & usage.native):
        return "certificate key usage does not allow signing", RevocationStatus.UNKNOWN
    statuses: list[RevocationStatus] = []
    current = leaf
    roots = list(trust.roots)
    for _ in range(_MAX_CHAIN):
        root = _issuer_of(current, roots)
        issuer = root or _issuer_of(current, list(trust.intermediates))
        if issuer is None:
            return "certificate does not chain to a trusted SM2 root", RevocationStatus.UNKNOWN
        if issuer is not current:
            constraints = issuer.basic_constraints_value
            usage = issuer.key_usage_value
            if constraints is None or not constraints["ca"].native:
                return "an issuer in the chain is not a CA", RevocationStatus.UNKNOWN
            if usage is not None and "key_cert_sign" not in usage.native:
                return "an issuer in the chain may not sign certificates", RevocationStatus.UNKNOWN
            if not _within(issuer, moment):
                return "an issuer in the chain was not valid at the signing time", (
                    RevocationStatus.UNKNOWN
                )
        try:
            verify_sm2_certificate_signature(current, sm2_public_key_of(issuer))
        except (InvalidSignature, Sm2CertificateError, ValueError):
            return "a certificate signature in the chain does not verify", (
                RevocationStatus.UNKNOWN
            )
        if root is not None and root.dump() == current.dump():
            break  # the trust anchor itself
        statuses.append(
            trust.revocation(current, issuer)
            if trust.revocation is not None
            else RevocationStatus.UNKNOWN
        )
        if root is not None:
            break
        current = issuer
    else:
        return "certificate chain too long", RevocationStatus.UNKNOWN
    if RevocationStatus.REVOKED in statuses:
        return "a certificate in the chain is revoked", RevocationStatus.REVOKED
    if statuses and all(status is RevocationStatus.GOOD for status in statuses):
        return None, RevocationStatus.GOOD
    return None, RevocationStatus.UNKNOWN


def _signer_listed(signature: SES_Signature, signer_der: bytes) -> bool:
    prop = signature["to_sign"]["eseal"]["e_seal_info"]["property"]
    raw = prop["cert_list"].dump()
    if prop["cert_list_type"].native == CERT_LIST:
        return any(item.native == signer_der for item in CertInfoList.load(raw))
    digest = sm3(signer_der)
    return any(
        item["type"].native.lower() == "sm3" and item["value"].native == digest
        for item in CertDigestList.load(raw)
    )


def _failed_format(why: str) -> SesVerification:
    return SesVerification(
        format_ok=False,
        signature_valid=False,
        signer_trusted=False,
        signer_revocation=RevocationStatus.UNKNOWN,
        seal_signature_valid=False,
        seal_maker_trusted=False,
        signed_within_seal_validity=False,
        signer_in_seal=False,
        timestamp="invalid",
        data_hash_ok=False,
        problems=(("format", why),),
    )


def verify_ses_signature(signed_value: bytes, data: bytes, trust: SesTrust) -> SesVerification:
    """Check DER ``SES_Signature`` ``signed_value`` over ``data``; never raises on bad input."""
    try:
        signature, signer_cert, maker_cert = _decode(signed_value)
        # Certificates must hold SM2 keys (GM/T 0015): a non-SM2 key fails the format check.
        signer_key, maker_key = sm2_public_key_of(signer_cert), sm2_public_key_of(maker_cert)
    except Exception as exc:  # asn1crypto raises many types on malformed input
        return _failed_format(f"not a DER SES_Signature with SM2 certificates ({exc})")
    why = _format_problem(signature)
    if why is not None:
        return _failed_format(why)

    problems: list[tuple[str, str]] = []
    to_sign = signature["to_sign"]
    seal = to_sign["eseal"]
    seal_info = seal["e_seal_info"]
    prop = seal_info["property"]
    signing_time: datetime = to_sign["time_info"].native.astimezone(UTC)

    signature_value = signature["signature"].native
    try:
        signer_key.verify_sm2(signature_value, to_sign.dump())
        signature_valid = True
    except InvalidSignature:
        signature_valid = False
        problems.append(("signature", "the signer's signature over TBS_Sign does not verify"))

    signer_problem, revocation = _chain(signer_cert, trust, signing_time)
    if signer_problem:
        problems.append(("signer_certificate", signer_problem))

    try:
        maker_key.verify_sm2(seal["signed_value"].native, seal_info.dump())
        seal_signature_valid = True
    except InvalidSignature:
        seal_signature_valid = False
        problems.append(("seal_signature", "the seal maker's signature does not verify"))
    maker_problem, _ = _chain(maker_cert, trust, signing_time)
    if maker_problem:
        problems.append(("seal_signature", f"seal maker: {maker_problem}"))

    valid_start = prop["valid_start"].native
    valid_end = prop["valid_end"].native
    within = bool(valid_start <= signing_time <= valid_end)
    if not within:
        problems.append(("seal_validity", "signed outside the seal's validity period"))

    listed = _signer_listed(signature, signature["cert"].native)
    if not listed:
        problems.append(("signer_in_seal", "the signer's certificate is not in the seal"))

    timestamp = "absent"
    timestamp_time: datetime | None = None
    if signature["time_stamp"].native is not None:
        try:
            timestamp_time = verify_timestamp(
                signature["time_stamp"].native, signature_value, trust.tsa_certificates
            )
            timestamp = "valid"
        except TimestampError as exc:
            timestamp = "invalid"
            problems.append(("timestamp", str(exc)))

    data_hash_ok = to_sign["data_hash"].native == sm3(data)
    if not data_hash_ok:
        problems.append(("data_hash", "SM3 of the data does not match dataHash"))

    order = {name: index for index, name in enumerate(CHECKS)}
    return SesVerification(
        format_ok=True,
        signature_valid=signature_valid,
        signer_trusted=signer_problem is None,
        signer_revocation=revocation,
        seal_signature_valid=seal_signature_valid,
        seal_maker_trusted=maker_problem is None,
        signed_within_seal_validity=within,
        signer_in_seal=listed,
        timestamp=timestamp,
        data_hash_ok=data_hash_ok,
        signing_time=signing_time,
        timestamp_time=timestamp_time,
        seal_id=seal_info["es_id"].native,
        seal_name=prop["name"].native,
        problems=tuple(sorted(problems, key=lambda item: order[item[0]])),
    )
