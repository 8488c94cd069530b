"""The licence trust list: every key that signs licence QR payloads and status lists, with
its certificate chain, published as one signed document.

A verifier pins the root certificate once (``/pki/root.pem``, or the trust bundle) and then
needs only this list: each key's certificate must chain to the pinned root (RFC 5280 §6,
here one intermediate, the service CA, checked signature by signature with the CA basic
constraint), and the list itself is a JWS (``typ: trustlist+jwt``) by one of those keys
with its chain in ``x5c`` (RFC 7515 §4.1.6). Retired keys stay on the list until their
certificate expires, so a licence signed before a rotation keeps verifying; ``exp`` tells
when a cached copy must be refreshed, but an expired list is still used (with a warning),
because each key's own certificate validity is what bounds it — the lesson of verifier
apps that stopped working when their trust list lapsed.

The list also names what a QR gives only by code (its identifier holds the licence type code
and the issuing authority's USCC): ``licence_types`` and ``issuers`` map codes to names.

COSE key ids are the first 8 bytes of SHA-256 over the key's certificate (DER), as in the
EU DCC; JWS key ids are the registry's. Each entry names its key's JWS ``alg``
(:mod:`verify.signing`: ``ES256``, ``EdDSA`` or the private ``SM2SM3``); a verifier still
takes the algorithm from the certificate's key and refuses an entry whose ``alg`` disagrees.
With the SM2 family the certificates are GM/T 0015-2012 SM2 certificates under the SM2 root,
checked by :func:`verify.signing.check_issued_by`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding

from keys import jws
from keys.algorithms import UnsupportedKeyType, key_type_of
from verify.signing import (
    LicenceSigner,
    certificate_public_key,
    check_issued_by,
    jws_algorithm_of,
    sign_jws,
    verify_jws,
)

TRUST_LIST_TYP = "trustlist+jwt"
MEDIA_TYPE = "application/trustlist+jwt"


class TrustListError(ValueError):
    """The trust list is malformed, not signed by a key chaining to the pinned root, or
    names a key whose certificate does not chain to it."""


def cose_kid(certificate: x509.Certificate) -> bytes:
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()[:8]


@dataclass(frozen=True)
class TrustedKey:
    kid: str
    cose_kid: bytes
    certificate: x509.Certificate
    state: str

    @property
    def public_key(self) -> PublicKeyTypes:
        return certificate_public_key(self.certificate)

    @property
    def algorithm(self) -> str:
        """The JWS name of the key's algorithm (``ES256``, ``EdDSA``, ``SM2SM3``)."""
        return jws_algorithm_of(key_type_of(self.public_key))

    @property
    def not_before(self) -> datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc


@dataclass(frozen=True)
class TrustList:
    issuer: str
    issued_at: datetime
    expires_at: datetime
    keys: tuple[TrustedKey, ...]
    status_lists: tuple[str, ...]
    licence_types: Mapping[str, str]
    issuers: Mapping[str, str]
    token: str = ""

    def by_cose_kid(self, kid: bytes) -> TrustedKey | None:
        return next((key for key in self.keys if key.cose_kid == kid), None)

    def jws_keys(self) -> dict[str, PublicKeyTypes]:
        return {key.kid: key.public_key for key in self.keys}


def _der(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(Encoding.DER)).decode()


def _load(text: Any) -> x509.Certificate:
    if not isinstance(text, str):
        raise TrustListError("a certificate in x5c is base64 DER text")
    try:
        return x509.load_der_x509_certificate(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise TrustListError("a certificate in x5c is not DER") from exc


def check_chain(chain: Sequence[x509.Certificate], root: x509.Certificate) -> None:
    """Each certificate issued by the next, the last by ``root``; every issuer a CA
    (RFC 5280 §6.1.3 (a)(1), (a)(4), §6.1.4 (k)). SM2 certificates are checked with SM2."""
    issuers = [*chain[1:], root]
    for certificate, issuer in zip(chain, issuers, strict=True):
        try:
            constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound:
            raise TrustListError("an issuer in the chain is not a CA") from None
        if not constraints.value.ca:
            raise TrustListError("an issuer in the chain is not a CA")
        try:
            check_issued_by(certificate, issuer)
        except InvalidSignature:
            raise TrustListError(
                f"{certificate.subject.rfc4514_string()} does not chain to the pinned root"
            ) from None


def key_entry(kid: str, state: str, chain: Sequence[x509.Certificate]) -> dict[str, Any]:
    """One key of the list: its certificate first, then its issuers (not the root)."""
    return {
        "kid": kid,
        "cose_kid": jws.b64url(cose_kid(chain[0])),
        "alg": jws_algorithm_of(key_type_of(certificate_public_key(chain[0]))),
        "state": state,
        "x5c": [_der(certificate) for certificate in chain],
    }


def sign_trust_list(
    issuer: str,
    entries: Sequence[Mapping[str, Any]],
    status_lists: Sequence[str],
    licence_types: Mapping[str, str],
    issuers: Mapping[str, str],
    signer: LicenceSigner,
    signer_chain: Sequence[x509.Certificate],
    now: datetime,
    lifetime_seconds: int,
) -> str:
    issued = int(now.timestamp())
    claims = {
        "iss": issuer,
        "iat": issued,
        "exp": issued + lifetime_seconds,
        "keys": list(entries),
        "status_lists": list(status_lists),
        "licence_types": dict(licence_types),
        "issuers": dict(issuers),
    }
    header = {"x5c": [_der(certificate) for certificate in signer_chain]}
    return sign_jws(claims, signer, TRUST_LIST_TYP, extra_header=header)


def _public_key(certificate: x509.Certificate) -> PublicKeyTypes:
    try:
        public_key = certificate_public_key(certificate)
        jws_algorithm_of(key_type_of(public_key))
    except UnsupportedKeyType as exc:
        raise TrustListError(f"a certificate's key cannot sign licences: {exc}") from None
    return public_key


def _seconds(value: Any, what: str) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TrustListError(f"{what} is not a number of seconds")
    return datetime.fromtimestamp(value, UTC)


def read_trust_list(token: str, root: x509.Certificate) -> TrustList:
    """Verify a trust list against the pinned ``root`` and return the keys it vouches for."""
    try:
        header = jws.unverified_header(token)
    except jws.InvalidJws as exc:
        raise TrustListError(f"the trust list is not a JWS: {exc}") from exc
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or not x5c:
        raise TrustListError("the trust list carries no signing certificate (x5c)")
    signer_chain = [_load(item) for item in x5c]
    check_chain(signer_chain, root)
    try:
        claims = verify_jws(
            token, {str(header.get("kid")): _public_key(signer_chain[0])}, TRUST_LIST_TYP
        )
    except jws.InvalidJws as exc:
        raise TrustListError(f"the trust list signature is not valid: {exc}") from exc
    entries = claims.get("keys")
    if not isinstance(entries, list):
        raise TrustListError("the trust list has no keys")
    keys = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("x5c"), list):
            raise TrustListError("a key entry needs x5c")
        chain = [_load(item) for item in entry["x5c"]]
        check_chain(chain, root)
        algorithm = jws_algorithm_of(key_type_of(_public_key(chain[0])))
        if entry.get("alg", algorithm) != algorithm:
            raise TrustListError(
                f"key {entry.get('kid')} says alg {entry.get('alg')!r}, its certificate "
                f"holds an {algorithm} key"
            )
        keys.append(
            TrustedKey(
                kid=str(entry.get("kid")),
                cose_kid=cose_kid(chain[0]),
                certificate=chain[0],
                state=str(entry.get("state", "active")),
            )
        )
    status_lists = claims.get("status_lists", [])
    if not isinstance(status_lists, list) or not all(isinstance(u, str) for u in status_lists):
        raise TrustListError("status_lists is a list of URIs")
    directories = [claims.get("licence_types", {}), claims.get("issuers", {})]
    for directory in directories:
        if not isinstance(directory, dict) or not all(
            isinstance(value, str) for value in directory.values()
        ):
            raise TrustListError("licence_types and issuers map codes to names")
    return TrustList(
        issuer=str(claims.get("iss")),
        issued_at=_seconds(claims.get("iat"), "iat"),
        expires_at=_seconds(claims.get("exp"), "exp"),
        keys=tuple(keys),
        status_lists=tuple(status_lists),
        licence_types=directories[0],
        issuers=directories[1],
        token=token,
    )
