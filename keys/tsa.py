"""An RFC 3161 time-stamp authority, with the RFC 5816 ESSCertIDv2 signing certificate.

:meth:`TimeStampAuthority.respond` turns a DER ``TimeStampReq`` (RFC 3161 §2.4.1) into a
DER ``TimeStampResp`` (§2.4.2) and never raises on bad input: a request it will not serve
gets status ``rejection`` with the matching ``PKIFailureInfo`` bit. A granted response
carries a ``TimeStampToken``: CMS SignedData (RFC 5652) over a DER ``TSTInfo``, signed by
a :class:`RawSigner` whose private key never leaves its backend.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID

from keys.algorithms import KeyType
from keys.backends.base import RawSigner

log = logging.getLogger(__name__)

#: Placeholder TSA policy (RFC 3161 §2.1 item 4): a UUID-derived OID under ``2.25``
#: (ITU-T X.667), which needs no registration and cannot collide with anyone's arc.
#: A production TSA must replace it with the OID of its published time-stamp policy.
PLACEHOLDER_POLICY_OID = "2.25.110760110996842222975059020451171790175"

#: SignerInfo digest algorithms with absent parameters, as RFC 5754 §2 says to generate
#: (asn1crypto would add NULL): SHA-256, except SHA-512 for Ed25519 (RFC 8419 §3.1).
_SHA256 = algos.DigestAlgorithm.load(bytes.fromhex("300b0609608648016503040201"))
_SHA512 = algos.DigestAlgorithm.load(bytes.fromhex("300b0609608648016503040203"))

_SIGNATURE_ALGORITHM = {
    KeyType.EC_P256: "sha256_ecdsa",  # RFC 5758 §3.2
    KeyType.RSA_2048: "sha256_rsa",  # RFC 4055 §5 (parameters NULL)
    KeyType.RSA_3072: "sha256_rsa",
    KeyType.ED25519: "ed25519",  # RFC 8419 §3.1
}


def _random_serial() -> int:
    """A random positive serial of at most 127 bits (RFC 3161 §2.4.2 allows up to 160)."""
    return secrets.randbelow(2**127 - 1) + 1


@dataclass(frozen=True)
class TsaConfig:
    """What this TSA signs under.

    ``policy_oid`` is the TSA policy put in every TSTInfo (RFC 3161 §2.4.2) and the only
    ``reqPolicy`` accepted; ``accuracy_seconds`` goes into ``accuracy``; ``accepted_hashes``
    are asn1crypto digest names allowed in a ``messageImprint`` (RFC 3161 §2.4.1).
    """

    policy_oid: str = PLACEHOLDER_POLICY_OID
    accuracy_seconds: int = 1
    accepted_hashes: frozenset[str] = field(
        default_factory=lambda: frozenset({"sha256", "sha384", "sha512"})
    )


class _TimeStampResp(core.Sequence):  # type: ignore[misc]
    """RFC 3161 §2.4.2 TimeStampResp: asn1crypto's omits OPTIONAL on timeStampToken."""

    _fields = [  # noqa: RUF012 (asn1crypto's schema convention)
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class _Rejection(Exception):
    """A request the TSA will not serve: the PKIFailureInfo bit and a status string."""

    def __init__(self, fail_info: str, text: str) -> None:
        super().__init__(text)
        self.fail_info = fail_info
        self.text = text


def check_tsa_certificate(certificate: x509.Certificate) -> None:
    """Raise ``ValueError`` unless ``certificate`` may sign time-stamp tokens.

    RFC 3161 §2.3: the certificate MUST contain the extended key usage extension with
    id-kp-timeStamping as its only KeyPurposeID, and the extension MUST be critical.
    """
    try:
        extension = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise ValueError("TSA certificate has no extendedKeyUsage (RFC 3161 §2.3)") from None
    if list(extension.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise ValueError("TSA certificate EKU must be id-kp-timeStamping only (RFC 3161 §2.3)")
    if not extension.critical:
        raise ValueError("TSA certificate EKU must be critical (RFC 3161 §2.3)")


class TimeStampAuthority:
    """Answers time-stamp requests (RFC 3161 §2.4) with tokens signed by ``signer``."""

    def __init__(
        self,
        signer: RawSigner,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate],
        config: TsaConfig,
        clock: Callable[[], datetime],
        serial: Callable[[], int] = _random_serial,
    ) -> None:
        check_tsa_certificate(certificate)
        spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        if signer.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
            raise ValueError("the signer's key is not the TSA certificate's key")
        if signer.key_type not in _SIGNATURE_ALGORITHM:
            raise ValueError(f"unsupported TSA key type {signer.key_type}")
        self._signer = signer
        self._config = config
        self._clock = clock
        self._serial = serial
        der = certificate.public_bytes(Encoding.DER)
        self._cert = asn1_x509.Certificate.load(der)
        self._chain = [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in chain]
        self._cert_hash = hashlib.sha256(der).digest()

    def respond(self, request_der: bytes) -> bytes:
        """The DER ``TimeStampResp`` (RFC 3161 §2.4.2) for a DER ``TimeStampReq``."""
        try:
            request = self._parse(request_der)
        except _Rejection as rejection:
            return self._reject(rejection.fail_info, rejection.text)
        try:
            token = self._token(request)
        except Exception:
            log.exception("time-stamp token could not be produced")
            return self._reject("system_failure", "the TSA could not produce a token")
        response = {"status": {"status": "granted"}, "time_stamp_token": token}
        return bytes(_TimeStampResp(response).dump())

    def _parse(self, request_der: bytes) -> tsp.TimeStampReq:
        """Decode and check a request against RFC 3161 §2.4.1 and this TSA's config."""
        try:
            request = tsp.TimeStampReq.load(request_der, strict=True)
            _ = request.native  # asn1crypto parses lazily: force every field now
        except Exception:
            raise _Rejection("bad_data_format", "the request is not a DER TimeStampReq") from None
        if int(request["version"]) != 1:
            raise _Rejection("bad_request", "only TimeStampReq version 1 is supported")
        imprint = request["message_imprint"]
        name = imprint["hash_algorithm"]["algorithm"].native
        if name not in self._config.accepted_hashes:
            raise _Rejection("bad_alg", f"hash algorithm {name} is not accepted")
        try:
            size = hashlib.new(name).digest_size
        except ValueError:
            raise _Rejection("bad_alg", f"hash algorithm {name} is unknown") from None
        if len(imprint["hashed_message"].native) != size:
            raise _Rejection("bad_alg", f"the {name} digest must be {size} bytes")
        policy = request["req_policy"]
        if policy.native is not None and policy.dotted != self._config.policy_oid:
            raise _Rejection("unaccepted_policy", f"policy {policy.dotted} is not supported")
        if request["extensions"].native is not None:
            raise _Rejection("unaccepted_extensions", "no request extensions are supported")
        return request

    @staticmethod
    def _reject(fail_info: str, text: str) -> bytes:
        """A ``rejection`` response carrying one PKIFailureInfo bit (RFC 3161 §2.4.2)."""
        status = {"status": "rejection", "status_string": [text], "fail_info": {fail_info}}
        return bytes(_TimeStampResp({"status": status}).dump())

    def _tst_info(self, request: tsp.TimeStampReq) -> bytes:
        """The DER ``TSTInfo`` (RFC 3161 §2.4.2) answering ``request``."""
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the TSA clock must return an aware datetime")
        info = {
            "version": "v1",
            "policy": self._config.policy_oid,
            "message_imprint": request["message_imprint"],
            "serial_number": self._serial(),
            "gen_time": now.astimezone(UTC),
            "accuracy": {"seconds": self._config.accuracy_seconds},
            "ordering": False,
            "tsa": asn1_x509.GeneralName({"directory_name": self._cert.subject}),
        }
        if request["nonce"].native is not None:
            info["nonce"] = request["nonce"]
        return bytes(tsp.TSTInfo(info).dump())

    def _token(self, request: tsp.TimeStampReq) -> cms.ContentInfo:
        """The ``TimeStampToken``: CMS SignedData over the TSTInfo (RFC 3161 §2.4.2)."""
        tst_info = self._tst_info(request)
        ed25519 = self._signer.key_type is KeyType.ED25519
        digest_algorithm = _SHA512 if ed25519 else _SHA256
        digest = (hashlib.sha512 if ed25519 else hashlib.sha256)(tst_info).digest()
        essv2 = {"certs": [{"cert_hash": self._cert_hash}]}  # sha256 default: omitted
        signed_attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "message_digest", "values": [digest]},
                {"type": "signing_certificate_v2", "values": [essv2]},  # RFC 5816 §2.2.1
            ]
        )
        # RFC 5652 §5.4: the signature covers the attributes' DER with the SET OF tag.
        signature = self._signer.sign(signed_attrs.dump())
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": self._cert.issuer,
                            "serial_number": self._cert.serial_number,
                        }
                    }
                ),
                "digest_algorithm": digest_algorithm,
                "signed_attrs": signed_attrs,
                "signature_algorithm": {"algorithm": _SIGNATURE_ALGORITHM[self._signer.key_type]},
                "signature": signature,
            }
        )
        signed_data = {
            "version": "v3",  # RFC 5652 §5.1: eContentType is not id-data
            "digest_algorithms": [digest_algorithm],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": core.ParsableOctetString(tst_info),
            },
            "signer_infos": [signer_info],
        }
        if request["cert_req"].native:  # RFC 3161 §2.4.1 certReq
            signed_data["certificates"] = [
                cms.CertificateChoices({"certificate": cert}) for cert in [self._cert, *self._chain]
            ]
        return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
