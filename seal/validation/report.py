"""The validation report of a sealed PDF: frozen dataclasses with explicit status fields.

Every signature (ISO 32000-2 §12.8.1, a ``/Sig`` dictionary) and every document timestamp
(ISO 32000-2 §12.8.5, a ``/DocTimeStamp``) gets one :class:`SignatureReport`. Its
``indication`` and ``sub_indication`` are the status indications of ETSI EN 319 102-1
§5.1.3 (Table 4: TOTAL-PASSED, TOTAL-FAILED, INDETERMINATE; Table 5: the sub-indications,
spelled as the standard spells them: ``HASH_FAILURE``, ``SIG_CRYPTO_FAILURE``, ``REVOKED``,
``NO_CERTIFICATE_CHAIN_FOUND``, ``REVOKED_NO_POE``, ``OUT_OF_BOUNDS_NO_POE``, ...).

The report carries what the certificate says about the seal (organisation, unified social
credit code, seal name) and nothing the signer typed into the signature dictionary (``/Name``,
``/Reason``, ``/Location``, ``/ContactInfo``): those are free text that may hold personal
data, and are not covered by the certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "NO_SIGNATURE",
    "Coverage",
    "DocumentReport",
    "Indication",
    "PadesLevel",
    "Revocation",
    "SealInfo",
    "SignatureKind",
    "SignatureReport",
]

#: ETSI EN 319 102-1 §5.1.3, Table 4.
Indication = Literal["TOTAL-PASSED", "INDETERMINATE", "TOTAL-FAILED"]
#: How far the signature's /ByteRange reaches (ISO 32000-2 §12.8.1).
Coverage = Literal["entire-document", "entire-revision", "partial"]
#: State of the signer's certificate as far as revocation data could tell.
Revocation = Literal["good", "revoked", "unknown", "not-checked"]
#: PAdES baseline levels (ETSI EN 319 142-1 §6).
PadesLevel = Literal["B-B", "B-T", "B-LT", "B-LTA"]
SignatureKind = Literal["signature", "document-timestamp"]

#: The document's overall sub-indication when it holds no signature at all. Not one of
#: ETSI EN 319 102-1's sub-indications (the standard validates signatures, not documents).
NO_SIGNATURE = "NO_SIGNATURE"


@dataclass(frozen=True)
class SealInfo:
    """Who sealed, as the signer's certificate subject says (RFC 5280 §4.1.2.6).

    ``organisation`` is the subject's O, ``uscc`` its serialNumber (govtrust puts the
    organisation's unified social credit code there, GB 32100-2015), ``seal_name`` its CN.
    For a document timestamp these describe the time-stamping authority.
    """

    organisation: str | None
    uscc: str | None
    seal_name: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "organisation": self.organisation,
            "uscc": self.uscc,
            "seal_name": self.seal_name,
        }


@dataclass(frozen=True)
class SignatureReport:
    """The validation result of one signature or document timestamp.

    - ``indication``/``sub_indication``: ETSI EN 319 102-1 §5.1.3; ``sub_indication`` is
      None exactly when the indication is TOTAL-PASSED.
    - ``claimed_signing_time``: what the signer says (CMS signingTime or the signature
      dictionary's /M, ISO 32000-2 §12.8.1 Table 255); not evidence.
    - ``proven_signing_time``: the earliest time a valid, trusted timestamp proves the
      signature existed (its signature timestamp, or a later document timestamp): ETSI's
      best-signature-time. None without such a timestamp.
    - ``timestamp_valid``: whether the signature timestamp is intact, valid and trusted;
      None when there is none. An invalid one is ignored as evidence (ETSI EN 319 102-1
      §5.5), it does not fail the signature.
    - ``integrity``: the signed bytes hash to the signed digest and the signature value
      verifies with the certificate's key.
    - ``chain_to_trust_anchor``: a certification path to one of the caller's trust roots was
      found.
    - ``revocation``/``revoked_at``: see :mod:`seal.validation.validate`.
    - ``modified_after_signing``: the file was changed after the signed revision in a way
      that counts as a modification (adding DSS validation data and document timestamps does
      not, ETSI EN 319 142-1 §5.4); ``modifications`` names pyHanko's modification level and
      says what it means.
    - ``pades_level``: the PAdES baseline level the signature's structure reaches (its
      validity is in the indication); None for a non-PAdES (``adbe.pkcs7.detached``)
      signature and for document timestamps.
    """

    field_name: str
    kind: SignatureKind
    indication: Indication
    sub_indication: str | None
    seal: SealInfo | None
    signer_certificate_serial: str | None
    claimed_signing_time: datetime | None
    proven_signing_time: datetime | None
    timestamp_valid: bool | None
    integrity: bool
    chain_to_trust_anchor: bool
    revocation: Revocation
    revoked_at: datetime | None
    coverage: Coverage
    modified_after_signing: bool
    modifications: str
    pades_level: PadesLevel | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict; times in ISO 8601 with their UTC offset."""
        return {
            "field_name": self.field_name,
            "kind": self.kind,
            "indication": self.indication,
            "sub_indication": self.sub_indication,
            "seal": None if self.seal is None else self.seal.to_json(),
            "signer_certificate_serial": self.signer_certificate_serial,
            "claimed_signing_time": _iso(self.claimed_signing_time),
            "proven_signing_time": _iso(self.proven_signing_time),
            "timestamp_valid": self.timestamp_valid,
            "integrity": self.integrity,
            "chain_to_trust_anchor": self.chain_to_trust_anchor,
            "revocation": self.revocation,
            "revoked_at": _iso(self.revoked_at),
            "coverage": self.coverage,
            "modified_after_signing": self.modified_after_signing,
            "modifications": self.modifications,
            "pades_level": self.pades_level,
        }


@dataclass(frozen=True)
class DocumentReport:
    """All signatures and document timestamps of a PDF, in signing order.

    ``overall`` is the worst indication among them (TOTAL-FAILED before INDETERMINATE
    before TOTAL-PASSED) and ``overall_sub_indication`` the sub-indication of the first
    signature that has it. A PDF without any signature is INDETERMINATE with
    :data:`NO_SIGNATURE`: nothing vouches for it, but nothing in it failed either.
    ``document_sha256`` is the hex SHA-256 of the bytes validated.
    """

    signatures: tuple[SignatureReport, ...]
    document_sha256: str
    validation_time: datetime
    overall: Indication
    overall_sub_indication: str | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (``json.dumps`` takes it as is)."""
        return {
            "signatures": [signature.to_json() for signature in self.signatures],
            "document_sha256": self.document_sha256,
            "validation_time": self.validation_time.isoformat(),
            "overall": self.overall,
            "overall_sub_indication": self.overall_sub_indication,
        }

    @classmethod
    def of(
        cls,
        signatures: tuple[SignatureReport, ...],
        *,
        document_sha256: str,
        validation_time: datetime,
    ) -> DocumentReport:
        """Summarise ``signatures`` into a document report (see the class docstring)."""
        if not signatures:
            return cls((), document_sha256, validation_time, "INDETERMINATE", NO_SIGNATURE)
        for indication in ("TOTAL-FAILED", "INDETERMINATE"):
            worst = next((s for s in signatures if s.indication == indication), None)
            if worst is not None:
                return cls(
                    signatures,
                    document_sha256,
                    validation_time,
                    worst.indication,
                    worst.sub_indication,
                )
        return cls(signatures, document_sha256, validation_time, "TOTAL-PASSED", None)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
