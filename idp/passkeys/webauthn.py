"""Stateless WebAuthn verification: W3C Web Authentication Level 2, §7.1 and §7.2.

Everything here is pure: the caller supplies the expected challenge, origin and relying
party id (and, for an assertion, the stored public key), and keeps the state (single-use
challenges, signature counters, which person owns which credential). Structures parsed:
``clientDataJSON`` (§5.8.1), authenticator data (§6.1), attested credential data
(§6.5.1), attestation objects (§6.5) and COSE keys (RFC 9052/9053, RFC 8230).

Attestation formats: ``none`` (§8.7) and ``packed`` self attestation (§8.2, no ``x5c``);
anything else is refused, since this relying party asks for no attestation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import struct
import uuid
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ES256, EDDSA, RS256 = -7, -8, -257
SUPPORTED_ALGORITHMS = (ES256, EDDSA, RS256)
MAX_CREDENTIAL_ID_LENGTH = 1023  # §5.1.2: at most 1023 bytes

FLAG_UP = 0x01  # user present
FLAG_UV = 0x04  # user verified
FLAG_BE = 0x08  # backup eligible
FLAG_BS = 0x10  # backed up
FLAG_AT = 0x40  # attested credential data included
FLAG_ED = 0x80  # extension data included

_COSE_KTY, _COSE_ALG = 1, 3
_KTY_OKP, _KTY_EC2, _KTY_RSA = 1, 2, 3
_CRV_P256, _CRV_ED25519 = 1, 6
_MIN_RSA_BITS = 2048


class WebAuthnError(ValueError):
    """A ceremony that fails verification. ``reason`` is a short slug for the audit trail."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Base64url without padding (RFC 4648 §5), as WebAuthn's JSON uses; strict alphabet."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (ValueError, TypeError) as exc:
        raise WebAuthnError("malformed", "not base64url") from exc


def rp_id_hash(rp_id: str) -> bytes:
    return hashlib.sha256(rp_id.encode("utf-8")).digest()


# --- COSE public keys --------------------------------------------------------------------


@dataclass(frozen=True)
class CosePublicKey:
    """A credential public key: its COSE algorithm and the key it names."""

    algorithm: int
    key: ec.EllipticCurvePublicKey | Ed25519PublicKey | rsa.RSAPublicKey

    def verify(self, signature: bytes, data: bytes) -> bool:
        """ES256 signatures are DER-encoded (§6.5.6); EdDSA raw; RS256 PKCS #1 v1.5."""
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            elif isinstance(self.key, Ed25519PublicKey):
                self.key.verify(signature, data)
            else:
                self.key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return True


def _bytes_field(key: dict[Any, Any], label: int, size: int | None = None) -> bytes:
    value = key.get(label)
    if not isinstance(value, bytes) or (size is not None and len(value) != size):
        raise WebAuthnError("bad-public-key", f"COSE key parameter {label} is not valid")
    return value


def parse_cose_key(encoded: bytes) -> CosePublicKey:
    """ES256 on P-256 (RFC 9053 §2.1), EdDSA on Ed25519 (§2.2), RS256 (RFC 8230 §2)."""
    try:
        key = cbor2.loads(encoded)
    except Exception as exc:  # cbor2 raises several kinds for malformed input
        raise WebAuthnError("bad-public-key", "the COSE key is not CBOR") from exc
    if not isinstance(key, dict):
        raise WebAuthnError("bad-public-key", "the COSE key is not a map")
    kty, alg = key.get(_COSE_KTY), key.get(_COSE_ALG)
    if alg not in SUPPORTED_ALGORITHMS:
        raise WebAuthnError("unsupported-algorithm", f"COSE algorithm {alg!r} not supported")
    try:
        if alg == ES256 and kty == _KTY_EC2 and key.get(-1) == _CRV_P256:
            numbers = ec.EllipticCurvePublicNumbers(
                int.from_bytes(_bytes_field(key, -2, 32), "big"),
                int.from_bytes(_bytes_field(key, -3, 32), "big"),
                ec.SECP256R1(),
            )
            return CosePublicKey(ES256, numbers.public_key())  # checks the point is on P-256
        if alg == EDDSA and kty == _KTY_OKP and key.get(-1) == _CRV_ED25519:
            return CosePublicKey(
                EDDSA, Ed25519PublicKey.from_public_bytes(_bytes_field(key, -2, 32))
            )
        if alg == RS256 and kty == _KTY_RSA:
            n = int.from_bytes(_bytes_field(key, -1), "big")
            e = int.from_bytes(_bytes_field(key, -2), "big")
            if n.bit_length() < _MIN_RSA_BITS:
                raise WebAuthnError("bad-public-key", "an RSA key needs at least 2048 bits")
            return CosePublicKey(RS256, rsa.RSAPublicNumbers(e, n).public_key())
    except ValueError as exc:
        if isinstance(exc, WebAuthnError):
            raise
        raise WebAuthnError("bad-public-key", "the public key is not valid") from exc
    raise WebAuthnError("bad-public-key", "the key type does not fit its algorithm")


# --- client data and authenticator data ---------------------------------------------------


@dataclass(frozen=True)
class AuthenticatorData:
    """§6.1: rpIdHash, flags, signCount, and with AT the attested credential data."""

    rp_id_hash: bytes
    flags: int
    sign_count: int
    aaguid: bytes | None = None
    credential_id: bytes | None = None
    credential_public_key: bytes | None = None  # COSE, exactly as the authenticator wrote it

    @property
    def user_present(self) -> bool:
        return bool(self.flags & FLAG_UP)

    @property
    def user_verified(self) -> bool:
        return bool(self.flags & FLAG_UV)

    @property
    def backup_eligible(self) -> bool:
        return bool(self.flags & FLAG_BE)


def parse_authenticator_data(data: bytes) -> AuthenticatorData:
    if len(data) < 37:
        raise WebAuthnError("malformed", "authenticator data is too short")
    rp_hash, flags, count = data[:32], data[32], struct.unpack(">I", data[33:37])[0]
    rest = io.BytesIO(data[37:])
    aaguid = credential_id = public_key = None
    try:
        if flags & FLAG_AT:  # §6.5.1 attested credential data
            aaguid = rest.read(16)
            (length,) = struct.unpack(">H", rest.read(2))
            credential_id = rest.read(length)
            if len(aaguid) != 16 or len(credential_id) != length:
                raise WebAuthnError("malformed", "attested credential data is truncated")
            start = rest.tell()
            cbor2.CBORDecoder(rest).decode()
            public_key = data[37 + start : 37 + rest.tell()]
        if flags & FLAG_ED:
            cbor2.CBORDecoder(rest).decode()
    except WebAuthnError:
        raise
    except Exception as exc:  # struct.error, cbor2's decode errors
        raise WebAuthnError("malformed", "authenticator data is malformed") from exc
    if rest.read(1):
        raise WebAuthnError("malformed", "authenticator data has trailing bytes")
    return AuthenticatorData(rp_hash, flags, count, aaguid, credential_id, public_key)


def verify_client_data(
    client_data_json: bytes, expected_type: str, challenge: bytes, origin: str
) -> None:
    """§7.1 steps 5-9 / §7.2 steps 9-13: parse ``clientDataJSON`` and check ``type``,
    ``challenge`` and ``origin``. A cross-origin (iframed) ceremony is refused."""
    try:
        client = json.loads(client_data_json.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebAuthnError("malformed", "clientDataJSON is not JSON") from exc
    if not isinstance(client, dict):
        raise WebAuthnError("malformed", "clientDataJSON is not an object")
    if client.get("type") != expected_type:
        raise WebAuthnError("wrong-type", f"the client data type is not {expected_type}")
    sent = client.get("challenge")
    if not isinstance(sent, str) or not hmac.compare_digest(b64url_decode(sent), challenge):
        raise WebAuthnError("wrong-challenge", "the challenge is not the one issued")
    if client.get("origin") != origin:
        raise WebAuthnError("wrong-origin", "the origin is not this service's")
    if client.get("crossOrigin") is True:
        raise WebAuthnError("wrong-origin", "a cross-origin ceremony is not accepted")


def _check_flags(auth: AuthenticatorData, rp_id: str, require_user_verification: bool) -> None:
    if not hmac.compare_digest(auth.rp_id_hash, rp_id_hash(rp_id)):
        raise WebAuthnError("wrong-rp-id", "the credential is not scoped to this service")
    if not auth.user_present:
        raise WebAuthnError("user-not-present", "the authenticator saw no user presence")
    if require_user_verification and not auth.user_verified:
        raise WebAuthnError("user-not-verified", "the authenticator did not verify the user")


# --- registration (§7.1) ------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    credential_id: bytes
    public_key: bytes  # COSE
    algorithm: int
    sign_count: int
    aaguid: str
    attestation_format: str
    user_verified: bool
    backup_eligible: bool


def verify_registration(
    *,
    client_data_json: bytes,
    attestation_object: bytes,
    challenge: bytes,
    origin: str,
    rp_id: str,
    require_user_verification: bool = True,
    algorithms: tuple[int, ...] = SUPPORTED_ALGORITHMS,
) -> Registration:
    """Registering a new credential, W3C WebAuthn Level 2 §7.1.

    Steps 5-9 (client data: ``webauthn.create``, challenge, origin), 11 (its hash), 12 (CBOR
    attestation object), 13 (rpIdHash), 14 (UP), 15 (UV when required), 16 (the key's
    algorithm is one offered), 18-21 (``none``, or ``packed`` self attestation). Step 22
    (the credential id is not registered yet) and the challenge's single use are the
    caller's: they need state.
    """
    verify_client_data(client_data_json, "webauthn.create", challenge, origin)  # steps 5-9
    client_data_hash = hashlib.sha256(client_data_json).digest()  # step 11
    try:  # step 12
        attestation = cbor2.loads(attestation_object)
    except Exception as exc:  # cbor2 raises several kinds for malformed input
        raise WebAuthnError("malformed", "the attestation object is not CBOR") from exc
    if not isinstance(attestation, dict) or not isinstance(attestation.get("authData"), bytes):
        raise WebAuthnError("malformed", "the attestation object has no authData")
    fmt, statement = attestation.get("fmt"), attestation.get("attStmt")
    raw_auth: bytes = attestation["authData"]
    auth = parse_authenticator_data(raw_auth)
    _check_flags(auth, rp_id, require_user_verification)  # steps 13-15
    if auth.credential_id is None or auth.credential_public_key is None or auth.aaguid is None:
        raise WebAuthnError("malformed", "no attested credential data (AT flag not set)")
    if not 1 <= len(auth.credential_id) <= MAX_CREDENTIAL_ID_LENGTH:
        raise WebAuthnError("malformed", "the credential id length is not valid")
    key = parse_cose_key(auth.credential_public_key)
    if key.algorithm not in algorithms:  # step 16
        raise WebAuthnError("unsupported-algorithm", "the key's algorithm was not offered")
    if not isinstance(statement, dict):
        raise WebAuthnError("malformed", "attStmt is not a map")
    if fmt == "none":  # §8.7
        if statement:
            raise WebAuthnError("bad-attestation", "a 'none' attestation has an empty attStmt")
    elif fmt == "packed":  # §8.2, self attestation only
        if "x5c" in statement:
            raise WebAuthnError(
                "unsupported-attestation",
                "packed attestation with a certificate is not supported: ask for none",
            )
        if statement.get("alg") != key.algorithm or not isinstance(statement.get("sig"), bytes):
            raise WebAuthnError("bad-attestation", "the self attestation does not fit the key")
        if not key.verify(statement["sig"], raw_auth + client_data_hash):
            raise WebAuthnError("bad-attestation", "the self attestation signature is wrong")
    else:
        raise WebAuthnError(
            "unsupported-attestation", f"attestation format {fmt!r} is not supported"
        )
    return Registration(
        credential_id=auth.credential_id,
        public_key=auth.credential_public_key,
        algorithm=key.algorithm,
        sign_count=auth.sign_count,
        aaguid=str(uuid.UUID(bytes=auth.aaguid)),
        attestation_format=str(fmt),
        user_verified=auth.user_verified,
        backup_eligible=auth.backup_eligible,
    )


# --- authentication (§7.2) ----------------------------------------------------------------


@dataclass(frozen=True)
class Assertion:
    sign_count: int
    user_verified: bool
    backup_eligible: bool


def verify_assertion(
    *,
    client_data_json: bytes,
    authenticator_data: bytes,
    signature: bytes,
    public_key: bytes,
    challenge: bytes,
    origin: str,
    rp_id: str,
    require_user_verification: bool = True,
) -> Assertion:
    """Verifying an authentication assertion, W3C WebAuthn Level 2 §7.2.

    Steps 9-13 (client data: ``webauthn.get``, challenge, origin), 15 (rpIdHash), 16 (UP),
    17 (UV when required), 19-20 (the signature over ``authenticatorData ||
    SHA-256(clientDataJSON)`` with the stored COSE key). Steps 5-7 (whose credential it is)
    and 21 (the signature counter, :func:`counter_advances`) are the caller's.
    """
    verify_client_data(client_data_json, "webauthn.get", challenge, origin)  # steps 9-13
    auth = parse_authenticator_data(authenticator_data)
    _check_flags(auth, rp_id, require_user_verification)  # steps 15-17
    signed = authenticator_data + hashlib.sha256(client_data_json).digest()  # step 19
    if not parse_cose_key(public_key).verify(signature, signed):  # step 20
        raise WebAuthnError("bad-signature", "the assertion signature does not verify")
    return Assertion(auth.sign_count, auth.user_verified, auth.backup_eligible)


def counter_advances(stored: int, received: int) -> bool:
    """§7.2 step 21: with a counter in use (either value non-zero) it must grow; otherwise
    the authenticator may have been cloned (§6.1.1)."""
    return (stored == 0 and received == 0) or received > stored
