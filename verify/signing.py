"""The algorithms that sign what a licence verifier checks: the QR payload (COSE_Sign1), the
status list and the trust list (compact JWS), and the certificate chains in the trust list.

One family signs at a time, chosen by ``GOVTRUST_LICENCE_ALGORITHM`` (:class:`LicenceAlgorithm`):

=========  ==============  ==========================  ==============  ============  ==========
family     key purpose     key type                    COSE ``alg``    JWS ``alg``   signature
=========  ==============  ==========================  ==============  ============  ==========
ES256      ``licence``     EC_P256 (Ed25519 if the     -7 (-8 EdDSA)   ES256         ``r || s``,
(default)                  service's key type is)                      (EdDSA)       64 bytes
SM2        ``sm2-licence`` SM2 (``GOVTRUST_SM2_        -65600          ``SM2SM3``    ``r || s``,
                           ENABLED``)                                                64 bytes
=========  ==============  ==========================  ==============  ============  ==========

SM2 here is the SM2 signature with SM3 and the default distinguishing identifier
``1234567812345678`` (GB/T 32918.2-2016 §6, GM/T 0009-2012 §10), its ``(r, s)`` written as two
32-byte big-endian integers, as ES256 writes them (RFC 7518 §3.4). Neither COSE nor JOSE has
registered an SM2 algorithm, so both names are private:

- COSE: -65600, in the range the IANA "COSE Algorithms" registry (RFC 8152 §16.4, kept by
  RFC 9053) reserves for private use: integers less than -65536.
- JWS: ``SM2SM3``, neither registered nor a collision-resistant name as RFC 7515 §4.1.1
  recommends (a SHOULD): a private name between this service and the verifiers that pinned
  its SM2 root; documented in ``verify/FORMAT.md`` §2.

As everywhere in :mod:`keys.jws`, the verifier takes the algorithm from the key it trusts and
refuses a message whose ``alg`` names another (RFC 8725 §3.1): an SM2 key never verifies an
ES256 signature, nor the other way round.

Certificates: ``cryptography`` parses SM2 certificates (GM/T 0015-2012) but can neither read
their keys nor check their signatures, so :func:`certificate_public_key` and
:func:`check_issued_by` take the SM2 path of :mod:`keys.sm2_certificates` when the certificate
is signed SM2-with-SM3.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding

from keys.algorithms import (
    KeyType,
    UnsupportedKeyType,
    der_to_raw_ecdsa,
    key_type_of,
    raw_to_der_ecdsa,
    verify_signature,
)
from keys.jws import InvalidJws, b64url, b64url_decode, unverified_header
from keys.sm2 import OID_SM2_WITH_SM3
from keys.sm2_certificates import (
    Sm2CertificateError,
    sm2_public_key_of,
    verify_sm2_certificate_signature,
)

__all__ = [
    "COSE_ALGORITHMS",
    "COSE_SM2",
    "JWS_ALGORITHMS",
    "JWS_SM2",
    "LicenceAlgorithm",
    "LicenceSigner",
    "certificate_public_key",
    "check_issued_by",
    "cose_algorithm_of",
    "jws_algorithm_of",
    "sign_jws",
    "sign_raw",
    "verify_jws",
    "verify_raw",
]

COSE_SM2 = -65600
"""COSE ``alg`` of SM2 with SM3, default distid, signature ``r || s`` (private use)."""
JWS_SM2 = "SM2SM3"
"""JWS ``alg`` of SM2 with SM3, default distid, signature ``r || s`` (private name)."""

COSE_ALGORITHMS: dict[KeyType, int] = {
    KeyType.EC_P256: -7,  # ES256, RFC 9053 §2.1
    KeyType.ED25519: -8,  # EdDSA, RFC 9053 §2.2
    KeyType.SM2: COSE_SM2,
}
JWS_ALGORITHMS: dict[KeyType, str] = {
    KeyType.EC_P256: "ES256",  # RFC 7518 §3.4
    KeyType.ED25519: "EdDSA",  # RFC 8037 §3.1
    KeyType.SM2: JWS_SM2,
}
_RAW_R_S = (KeyType.EC_P256, KeyType.SM2)
"""Key types whose signature travels as ``r || s`` (two 32-byte integers)."""


class LicenceAlgorithm(StrEnum):
    """Which family signs licence QRs, status lists and the trust list."""

    ES256 = "ES256"
    SM2 = "SM2"

    @property
    def purpose(self) -> str:
        """The key purpose (:mod:`keys.purposes`) whose active key signs."""
        return "sm2-licence" if self is LicenceAlgorithm.SM2 else "licence"

    @property
    def issuing_ca_purpose(self) -> str:
        """The CA that certifies the signing keys (the intermediate in the trust list)."""
        return "sm2-service-ca" if self is LicenceAlgorithm.SM2 else "service-ca"

    @property
    def root_purpose(self) -> str:
        """The root a verifier pins to check the trust list."""
        return "sm2-root" if self is LicenceAlgorithm.SM2 else "root"


class LicenceSigner(Protocol):
    """What signs licence documents (:class:`keys.managed.ManagedSigner` is one)."""

    @property
    def kid(self) -> str: ...

    @property
    def key_type(self) -> KeyType: ...

    def sign(self, data: bytes) -> bytes:
        """The X.509/CMS form: DER ``(r, s)`` for ECDSA and SM2."""
        ...

    def sign_jws(self, data: bytes) -> bytes:
        """The JWS form (RFC 7518 §3.4) for the international algorithms."""
        ...


def cose_algorithm_of(key_type: KeyType) -> int:
    try:
        return COSE_ALGORITHMS[key_type]
    except KeyError:
        raise UnsupportedKeyType(f"{key_type.value} keys do not sign licence payloads") from None


def jws_algorithm_of(key_type: KeyType) -> str:
    try:
        return JWS_ALGORITHMS[key_type]
    except KeyError:
        raise UnsupportedKeyType(f"{key_type.value} keys do not sign licence lists") from None


def sign_raw(signer: LicenceSigner, data: bytes) -> bytes:
    """``signer``'s signature of ``data`` as COSE (RFC 9053 §2.1) and JWS carry it: ``r || s``
    for ES256 and SM2, the 64 bytes of Ed25519 as they are."""
    cose_algorithm_of(signer.key_type)  # refuse RSA before anything is signed
    if signer.key_type is KeyType.SM2:
        # DER (r, s), GM/T 0009-2012 §7.2 -> r || s
        return der_to_raw_ecdsa(signer.sign(data))
    return signer.sign_jws(data)


def verify_raw(key: PublicKeyTypes, signature: bytes, data: bytes) -> None:
    """Raise :class:`InvalidSignature` unless ``signature`` (as :func:`sign_raw` makes it) is
    ``key``'s signature of ``data`` with ``key``'s own algorithm."""
    key_type = key_type_of(key)
    cose_algorithm_of(key_type)
    if key_type in _RAW_R_S:
        if len(signature) != 64:
            raise InvalidSignature(f"an {jws_algorithm_of(key_type)} signature is 64 bytes")
        signature = raw_to_der_ecdsa(signature)
    verify_signature(key, signature, data)


# -- certificates -----------------------------------------------------------------------


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


def certificate_public_key(certificate: x509.Certificate) -> PublicKeyTypes:
    """The subject's key, an :class:`keys.sm2.Sm2PublicKey` for an SM2 certificate."""
    try:
        return certificate.public_key()
    except UnsupportedAlgorithm:
        try:
            return sm2_public_key_of(_asn1(certificate))
        except (Sm2CertificateError, ValueError) as exc:
            raise UnsupportedKeyType(f"unsupported certificate key: {exc}") from None


def check_issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> None:
    """Raise :class:`InvalidSignature` unless ``issuer`` signed ``certificate`` and is named as
    its issuer (RFC 5280 §6.1.3 (a)(1), (a)(4)). SM2-with-SM3 signatures are checked by
    :func:`keys.sm2_certificates.verify_sm2_certificate_signature` and need an SM2 issuer."""
    if certificate.issuer != issuer.subject:
        raise InvalidSignature("the certificate names another issuer")
    if certificate.signature_algorithm_oid.dotted_string == OID_SM2_WITH_SM3:
        try:
            issuer_key = sm2_public_key_of(_asn1(issuer))
        except (Sm2CertificateError, ValueError):
            raise InvalidSignature("an SM2 certificate needs an SM2 issuer") from None
        verify_sm2_certificate_signature(_asn1(certificate), issuer_key)
        return
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidSignature(f"the certificate's signature cannot be checked: {exc}") from None


# -- compact JWS (RFC 7515 §7.1) for licence documents ----------------------------------


def _json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def sign_jws(
    claims: Mapping[str, Any],
    signer: LicenceSigner,
    typ: str,
    extra_header: Mapping[str, Any] | None = None,
) -> str:
    """A compact JWS of ``claims``; the same bytes :func:`keys.jws.sign` makes for ES256 and
    EdDSA, and ``alg: SM2SM3`` with an ``r || s`` signature for SM2."""
    header = {
        "alg": jws_algorithm_of(signer.key_type),
        "kid": signer.kid,
        "typ": typ,
        **(extra_header or {}),
    }
    signing_input = f"{b64url(_json(header))}.{b64url(_json(claims))}"
    return f"{signing_input}.{b64url(sign_raw(signer, signing_input.encode()))}"


def verify_jws(token: str, keys: Mapping[str, PublicKeyTypes], typ: str) -> dict[str, Any]:
    """The claims of ``token`` if one of ``keys`` (by ``kid``) signed it with its own
    algorithm; raise :class:`keys.jws.InvalidJws` otherwise (RFC 7515 §5.2, RFC 8725 §3.1:
    the algorithm comes from the key, ``crit`` is refused, ``typ`` must match)."""
    header = unverified_header(token)
    key = keys.get(str(header.get("kid")))
    if key is None:
        raise InvalidJws("unknown signing key")
    try:
        expected = jws_algorithm_of(key_type_of(key))
    except UnsupportedKeyType as exc:
        raise InvalidJws(str(exc)) from None
    if header.get("alg") != expected:
        raise InvalidJws("unexpected algorithm")
    if str(header.get("typ", "")).lower() not in (typ.lower(), f"application/{typ}".lower()):
        raise InvalidJws("unexpected token type")
    if "crit" in header:
        raise InvalidJws("unsupported critical header")
    head, payload, signature = token.split(".")
    try:
        verify_raw(key, b64url_decode(signature), f"{head}.{payload}".encode())
    except InvalidSignature as exc:
        raise InvalidJws(f"signature does not verify: {exc}") from exc
    try:
        claims = json.loads(b64url_decode(payload))
    except ValueError as exc:
        raise InvalidJws("payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise InvalidJws("payload is not an object")
    return claims
