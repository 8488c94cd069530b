"""An OCSP responder (RFC 6960) that answers every input with a DER OCSPResponse.

:meth:`OcspResponder.respond` never raises. Its responseStatus (§2.3, §4.2.1) is
``malformedRequest`` for anything not a DER OCSPRequest, a nonce outside 1-32 octets
(RFC 8954 §2.1), an unrecognised critical request extension, or **several CertIDs in one
request** (refused on purpose: a response here carries one SingleResponse, and browsers,
OpenSSL, Go and Java clients ask about one certificate at a time); ``unauthorized`` when
no served CA matches the CertID's issuerNameHash *and* issuerKeyHash under the request's
hash algorithm (§4.1.1; SHA-1 and SHA-2); ``internalError`` when the status source or the
signer fails; otherwise ``successful``: a BasicOCSPResponse (§4.2.1) echoing the CertID,
certStatus good / revoked (time, reason) / unknown (never issued, §2.2), producedAt =
thisUpdate = now, nextUpdate = now + validity (§4.2.2.1), ResponderID byKey, the responder
certificate in ``certs``, and the request nonce echoed (§4.4.1). The responder certificate
is the CA's own or a delegate holding id-kp-OCSPSigning (§4.2.2.2). A signed request's
signature (§4.1.2) is not checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Literal, Protocol
from urllib.parse import unquote

from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keys.algorithms import KeyType, generate_private_key
from keys.backends.base import RawSigner

log = logging.getLogger(__name__)
_Digest = hashes.SHA256 | None
#: CertID hash algorithms (RFC 6960 §4.1.1) this responder matches issuers with.
_HASHES = ("sha1", "sha224", "sha256", "sha384", "sha512")
_URL_SAFE = str.maketrans("-_", "+/")


@dataclass(frozen=True)
class CertificateStatus:
    """What a CA knows about one serial it issued (RFC 6960 §2.2 ``good``/``revoked``)."""

    status: Literal["good", "revoked"]
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None

    def __post_init__(self) -> None:
        if self.status == "revoked" and self.revoked_at is None:
            raise ValueError("a revoked certificate needs revoked_at")
        if self.status == "good" and (self.revoked_at is not None or self.reason is not None):
            raise ValueError("a good certificate has no revocation time or reason")


class StatusSource(Protocol):
    def status(self, issuer: x509.Certificate, serial: int) -> CertificateStatus | None:
        """The status of ``serial`` under ``issuer``; None if that CA never issued it."""
        ...


@dataclass(frozen=True)
class ResponderIdentity:
    """Who answers for ``issuer`` (RFC 6960 §4.2.2.2); :class:`ValueError` unless ``signer``
    holds the responder certificate's key and that certificate is ``issuer`` itself or
    issued directly by it (name and signature) with id-kp-OCSPSigning."""

    issuer: x509.Certificate
    responder_certificate: x509.Certificate
    signer: RawSigner

    def __post_init__(self) -> None:
        if self.signer.public_key() != self.responder_certificate.public_key():
            raise ValueError("the signer's key is not the responder certificate's key")
        if self.responder_certificate == self.issuer:
            return
        try:  # issuer name and signature
            self.responder_certificate.verify_directly_issued_by(self.issuer)
        except Exception as exc:  # InvalidSignature, ValueError, TypeError
            raise ValueError("the responder certificate is not issued by the CA") from exc
        if not any(
            isinstance(e.value, x509.ExtendedKeyUsage)
            and ExtendedKeyUsageOID.OCSP_SIGNING in e.value
            for e in self.responder_certificate.extensions
        ):
            raise ValueError("a delegated responder certificate needs id-kp-OCSPSigning")


class OcspResponder:
    """Answers OCSP requests for the CAs in ``identities`` (see the module docstring)."""

    def __init__(
        self,
        identities: Sequence[ResponderIdentity],
        source: StatusSource,
        clock: Callable[[], datetime],
        validity: timedelta = timedelta(hours=1),
    ) -> None:
        if not identities or validity <= timedelta(0):
            raise ValueError("an OCSP responder needs an identity and a positive validity")
        self._source = source
        self._clock = clock
        self._validity = validity
        self._by_cert_id = {
            (name, hashlib.new(name, subject).digest(), hashlib.new(name, key).digest()): who
            for who in identities
            for subject, key in [_hash_inputs(who.issuer)]
            for name in _HASHES
        }

    def respond(self, request_der: bytes) -> bytes:
        """The DER OCSPResponse for a DER OCSPRequest (RFC 6960 §4.1.1, §4.2.1)."""
        try:
            request = ocsp.load_der_ocsp_request(bytes(request_der))
            cert_id = (request.issuer_name_hash, request.issuer_key_hash)
            nonce = _nonce(request.extensions)
        except Exception:  # any parse failure; NotImplementedError for several CertIDs
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        try:
            identity = self._by_cert_id.get((request.hash_algorithm.name, *cert_id))
        except Exception:  # UnsupportedAlgorithm: no issuer can be matched
            identity = None
        if identity is None:
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        try:
            return self._successful(request, identity, nonce)
        except Exception:
            log.exception("OCSP response for serial %#x failed", request.serial_number)
            return _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)

    def respond_to_path(self, path_segment: str) -> bytes:
        """:meth:`respond` for the GET form (RFC 6960 §A.1.1); undecodable → malformed."""
        try:
            request_der = get_request_from_path(path_segment)
        except ValueError:
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        return self.respond(request_der)

    def _successful(
        self, request: ocsp.OCSPRequest, who: ResponderIdentity, nonce: bytes | None
    ) -> bytes:
        """A signed BasicOCSPResponse with one SingleResponse (RFC 6960 §4.2.1, §2.2)."""
        now = self._clock().replace(microsecond=0)
        now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)  # naive: UTC
        known = self._source.status(who.issuer, request.serial_number)
        status = ocsp.OCSPCertStatus[known.status.upper()] if known else ocsp.OCSPCertStatus.UNKNOWN
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number,
            algorithm=request.hash_algorithm,
            cert_status=status,
            this_update=now,
            next_update=now + self._validity,
            revocation_time=known.revoked_at if known else None,
            revocation_reason=known.reason if known else None,
        )
        builder = builder.certificates([who.responder_certificate])
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        return _sign(builder, who, now)


def get_request_from_path(path_segment: str) -> bytes:
    """The DER OCSPRequest in a GET path: ``{url}/{url-encoding of base-64 of DER}`` (§A.1).

    Percent-escapes are undone first (``+`` stays ``+``: it is a base64 character, not a
    space). Missing ``=`` padding and the URL-safe alphabet (``-``/``_``) are tolerated.
    Raises :class:`ValueError` if what remains is not base64.
    """
    text = unquote(path_segment, errors="strict").strip().translate(_URL_SAFE)
    text += "=" * (-len(text) % 4)
    try:
        decoded = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeError) as exc:
        raise ValueError("the OCSP GET path is not base64") from exc
    if not decoded:
        raise ValueError("the OCSP GET path is empty")
    return decoded


def _nonce(extensions: x509.Extensions) -> bytes | None:
    """The request nonce (RFC 6960 §4.4.1) if any; ValueError for a bad one (RFC 8954 §2.1)
    or an unrecognised critical extension (unrecognised non-critical ones are ignored)."""
    nonce = None
    for extension in extensions:
        if isinstance(extension.value, x509.OCSPNonce):
            nonce = extension.value.nonce
            if not 1 <= len(nonce) <= 32:
                raise ValueError("nonce length outside 1..32 octets (RFC 8954 §2.1)")
        elif extension.critical:
            raise ValueError(f"unrecognised critical request extension {extension.oid}")
    return nonce


@cache
def _stand_in(key_type: KeyType) -> tuple[PrivateKeyTypes, x509.Certificate, _Digest]:
    """A throwaway key and a certificate for it, named as responder in the draft.

    ``OCSPResponseBuilder.sign`` refuses a ResponderID certificate that lacks the signing
    key, so drafting with a throwaway key alone (as :mod:`keys.x509_signing` does)
    fails for every real responder; :func:`_sign` uses its technique with this stand-in.
    """
    key = generate_private_key(key_type)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OCSP draft stand-in")])
    start = datetime(2000, 1, 1, tzinfo=UTC)
    builder = x509.CertificateBuilder(name, name, key.public_key(), 1, start, start)  # type: ignore[arg-type]
    digest = None if key_type is KeyType.ED25519 else hashes.SHA256()
    return key, builder.sign(key, digest), digest  # type: ignore[arg-type]


def _sign(builder: ocsp.OCSPResponseBuilder, who: ResponderIdentity, now: datetime) -> bytes:
    """Sign tbsResponseData (§4.2.1) with ``who.signer`` after setting the real
    ResponderID byKey (SHA-1 of the responder's key bits, §4.2.1) and producedAt."""
    key, stand_in, digest = _stand_in(who.signer.key_type)
    draft = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, stand_in).sign(key, digest)  # type: ignore[arg-type]
    response = asn1_ocsp.OCSPResponse.load(draft.public_bytes(Encoding.DER))
    basic = response["response_bytes"]["response"].parsed
    tbs = basic["tbs_response_data"]
    key_hash = hashlib.sha1(_hash_inputs(who.responder_certificate)[1], usedforsecurity=False)
    tbs["responder_id"] = asn1_ocsp.ResponderId(name="by_key", value=key_hash.digest())
    tbs["produced_at"] = now
    basic["signature"] = who.signer.sign(tbs.dump(force=True))
    basic_der = basic.dump(force=True)
    response["response_bytes"]["response"] = asn1_ocsp.BasicOCSPResponse.load(basic_der)
    return bytes(response.dump(force=True))


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    """An OCSPResponse with a status and no responseBytes (RFC 6960 §4.2.1)."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(Encoding.DER)


def _hash_inputs(certificate: x509.Certificate) -> tuple[bytes, bytes]:
    """What issuerNameHash and issuerKeyHash hash (RFC 6960 §4.1.1): the subject DER as
    encoded in the certificate, and subjectPublicKey without its unused-bits octet."""
    tbs = asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))["tbs_certificate"]
    bits = tbs["subject_public_key_info"]["public_key"].contents[1:]
    return bytes(tbs["subject"].dump()), bytes(bits)
