"""PKCS#11 key backend: private keys are generated on an HSM token and never leave it.

Mechanisms (PKCS#11 v2.40 Current Mechanisms; the EdDSA ones are PKCS#11 v3.0):

* EC_P256: ``CKM_EC_KEY_PAIR_GEN`` (§2.3.6, secp256r1) and ``CKM_ECDSA`` (§2.3.7) over a SHA-256
  digest computed here (SoftHSM2 has no ``CKM_ECDSA_SHA256``); raw ``r || s`` becomes DER.
* RSA_2048/RSA_3072: ``CKM_RSA_PKCS_KEY_PAIR_GEN`` (§2.1.4, e = 65537), ``CKM_SHA256_RSA_PKCS``.
* ED25519: ``CKM_EC_EDWARDS_KEY_PAIR_GEN`` (curve "edwards25519") and ``CKM_EDDSA`` (pure).

SM2 is refused: PKCS#11 v2.40/v3.0 define no SM2 mechanism (tokens that have one use
vendor-defined ``CKM_VENDOR_DEFINED`` codes) and SoftHSM2 has none; SM2 keys live in the
software backend (:mod:`keys.backends.software_sm2`).

A reference is the ``CKA_ID`` (16 random bytes) of both key objects. One logged-in R/W session
serves all threads under a lock, re-opened once if the token reports it closed or logged out.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import pkcs11
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pkcs11 import Attribute, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import KeyType as P11KeyType
from pkcs11 import exceptions as p11

from keys.algorithms import KeyType, raw_to_der_ecdsa
from keys.backends.base import KeyBackendError

_T = TypeVar("_T")
_P256 = bytes.fromhex("06082a8648ce3d030107")  # namedCurve 1.2.840.10045.3.1.7
_ED25519 = b"\x13\x0cedwards25519"  # PrintableString curve name (PKCS#11 v3.0 §2.3.5)
_ED25519_OID = bytes.fromhex("06032b6570")  # 1.3.101.112, what some tokens store instead
_STALE = (  # a C_Logout by another session of this process also invalidates key handles
    p11.SessionClosed, p11.SessionHandleInvalid, p11.UserNotLoggedIn,
    p11.ObjectHandleInvalid, p11.KeyHandleInvalid,
)  # fmt: skip


class _Spec(NamedTuple):
    p11_type: P11KeyType
    generate: Mechanism
    sign: Mechanism
    bits: int | None
    params: bytes | None


_EC_GEN, _RSA_GEN = Mechanism.EC_KEY_PAIR_GEN, Mechanism.RSA_PKCS_KEY_PAIR_GEN
_ED_GEN = Mechanism.EC_EDWARDS_KEY_PAIR_GEN
_SPECS = {
    KeyType.EC_P256: _Spec(P11KeyType.EC, _EC_GEN, Mechanism.ECDSA, None, _P256),
    KeyType.RSA_2048: _Spec(P11KeyType.RSA, _RSA_GEN, Mechanism.SHA256_RSA_PKCS, 2048, None),
    KeyType.RSA_3072: _Spec(P11KeyType.RSA, _RSA_GEN, Mechanism.SHA256_RSA_PKCS, 3072, None),
    KeyType.ED25519: _Spec(P11KeyType.EC_EDWARDS, _ED_GEN, Mechanism.EDDSA, None, _ED25519),
}


def _spec(key_type: KeyType) -> _Spec:
    try:
        return _SPECS[key_type]
    except KeyError:
        raise KeyBackendError(
            f"{key_type} keys are not supported by the PKCS#11 backend (no standard PKCS#11 "
            "mechanism; SoftHSM2 has none): use the software backend for SM2"
        ) from None


def _point(value: bytes, size: int) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING (v2.40 §2.3.3); a few tokens store it raw."""
    if len(value) == size + 2 and value[:2] == bytes([0x04, size]):
        value = value[2:]
    if len(value) != size:
        raise KeyBackendError(f"unexpected CKA_EC_POINT of {len(value)} bytes")
    return value


def _public_key(key_type: KeyType, obj: pkcs11.Object) -> PublicKeyTypes:
    """The ``cryptography`` form of the token's public key object."""
    if key_type is KeyType.EC_P256:
        if obj[Attribute.EC_PARAMS] != _P256:
            raise KeyBackendError("the token's EC key is not on curve P-256")
        point = _point(obj[Attribute.EC_POINT], 65)
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    if key_type is KeyType.ED25519:
        if obj[Attribute.EC_PARAMS] not in (_ED25519, _ED25519_OID):
            raise KeyBackendError("the token's EdDSA key is not on edwards25519")
        return ed25519.Ed25519PublicKey.from_public_bytes(_point(obj[Attribute.EC_POINT], 32))
    modulus = int.from_bytes(obj[Attribute.MODULUS], "big")
    if modulus.bit_length() != _SPECS[key_type].bits:
        raise KeyBackendError(f"the token's RSA key has {modulus.bit_length()} bits")
    exponent = int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big")
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()


@dataclass(frozen=True)
class Pkcs11Signer:
    """A :class:`~keys.backends.base.RawSigner` whose private key stays on the token."""

    backend: Pkcs11Backend
    key_type: KeyType
    reference: bytes
    public: PublicKeyTypes  # read from the token once, at load

    def public_key(self) -> PublicKeyTypes:
        return self.public

    def sign(self, data: bytes) -> bytes:
        return self.backend.sign_with(self.key_type, self.reference, data)


class Pkcs11Backend:
    """Keys on the PKCS#11 token labelled ``token_label`` in the library ``module_path``."""

    def __init__(self, module_path: str, token_label: str, user_pin: str) -> None:
        self._module_path, self._token_label, self._user_pin = module_path, token_label, user_pin
        self._lock = threading.Lock()
        self._session: pkcs11.Session | None = None
        self._mechanisms: set[Mechanism] = set()
        self._keys: dict[bytes, pkcs11.SignMixin] = {}  # CKA_ID -> private key, this session

    @property
    def name(self) -> str:
        return "pkcs11"

    def __repr__(self) -> str:  # never the PIN
        return f"Pkcs11Backend({self._module_path!r}, token={self._token_label!r})"

    def generate(self, key_type: KeyType, label: str) -> bytes:
        spec, reference = _spec(key_type), secrets.token_bytes(16)
        common = {Attribute.TOKEN: True, Attribute.LABEL: label, Attribute.ID: reference}
        public = {**common, Attribute.PRIVATE: False, Attribute.VERIFY: True}
        if spec.params is not None:
            public[Attribute.EC_PARAMS] = spec.params
        private = {**common, Attribute.PRIVATE: True, Attribute.SENSITIVE: True}
        private |= {Attribute.EXTRACTABLE: False, Attribute.SIGN: True}

        def op(session: pkcs11.Session) -> None:
            self._require(key_type, spec.generate, spec.sign)
            session.generate_keypair(
                spec.p11_type, spec.bits, id=reference, label=label, store=True,
                capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY, mechanism=spec.generate,
                public_template=public, private_template=private,
            )  # fmt: skip

        self._run(f"generating a {key_type} key", op)
        return reference

    def load(self, key_type: KeyType, reference: bytes, label: str = "") -> Pkcs11Signer:
        """A signer for CKA_ID ``reference``; a non-empty ``label`` must match its CKA_LABEL."""
        spec, ref = _spec(key_type), reference.hex()

        def op(session: pkcs11.Session) -> PublicKeyTypes:
            self._require(key_type, spec.sign)
            key = self._private_key(session, reference)
            if key.key_type != spec.p11_type or (label and key[Attribute.LABEL] != label):
                raise KeyBackendError(f"key {ref} on the token is not the {key_type} key {label!r}")
            try:
                return _public_key(key_type, session.get_key(ObjectClass.PUBLIC_KEY, id=reference))
            except p11.NoSuchKey:
                raise KeyBackendError(f"no public key with CKA_ID {ref} on the token") from None

        return Pkcs11Signer(self, key_type, reference, self._run(f"loading key {ref}", op))

    def sign_with(self, key_type: KeyType, reference: bytes, data: bytes) -> bytes:
        """The X.509/CMS signature of ``data`` by private key ``reference``."""
        mechanism = _spec(key_type).sign
        if key_type is KeyType.EC_P256:  # CKM_ECDSA signs a digest we compute
            data = hashlib.sha256(data).digest()

        def op(session: pkcs11.Session) -> bytes:
            return self._private_key(session, reference).sign(data, mechanism=mechanism)

        signature = self._run(f"signing with key {reference.hex()}", op)
        return raw_to_der_ecdsa(signature) if key_type is KeyType.EC_P256 else signature

    def destroy(self, reference: bytes) -> None:
        """Delete the private and public key objects with this CKA_ID (none found: no-op)."""

        def op(session: pkcs11.Session) -> None:
            for kind in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                query = {Attribute.CLASS: kind, Attribute.ID: reference}
                for obj in list(session.get_objects(query)):  # list: finish C_FindObjects first
                    obj.destroy()
            self._keys.pop(reference, None)

        self._run(f"destroying key {reference.hex()}", op)

    def close(self) -> None:
        """Log out (every session of this process: v2.40 §5.6) and close the session."""
        with self._lock:
            self._drop()

    def _run(self, what: str, op: Callable[[pkcs11.Session], _T]) -> _T:
        with self._lock:
            try:
                try:
                    return op(self._open())
                except _STALE:
                    self._drop()
                    return op(self._open())
            except (p11.MechanismInvalid, p11.FunctionNotSupported) as exc:
                raise KeyBackendError(f"{what}: mechanism not supported by this token") from exc
            except p11.PKCS11Error as exc:
                raise KeyBackendError(f"{what} failed: {type(exc).__name__} {exc}") from exc

    def _open(self) -> pkcs11.Session:
        if self._session is not None:
            return self._session
        path, label = self._module_path, self._token_label
        if not os.path.isfile(path):
            raise KeyBackendError(f"PKCS#11 module not found: {path}")
        try:
            token = pkcs11.lib(path).get_token(token_label=label)
            self._mechanisms = set(token.slot.get_mechanisms())
        except (p11.NoSuchToken, p11.MultipleTokensReturned) as exc:
            raise KeyBackendError(f"{type(exc).__name__}: token {label!r} in {path}") from None
        except p11.PKCS11Error as exc:
            raise KeyBackendError(f"{path} is not a usable PKCS#11 library: {exc}") from None
        try:
            self._session = token.open(rw=True, user_pin=self._user_pin)
        except p11.UserAlreadyLoggedIn:
            # Login state is per application (v2.40 §5.6): another session of this process
            # is logged in, so a new session is as well.
            self._session = token.open(rw=True)
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange):
            raise KeyBackendError(f"wrong user PIN for PKCS#11 token {label!r}") from None
        except p11.PinLocked:
            raise KeyBackendError(f"the user PIN of PKCS#11 token {label!r} is locked") from None
        except p11.PKCS11Error as exc:
            raise KeyBackendError(f"cannot log in to {label!r}: {type(exc).__name__}") from None
        self._keys.clear()
        return self._session

    def _drop(self) -> None:
        session, self._session = self._session, None
        self._keys.clear()
        if session is not None:
            with contextlib.suppress(p11.PKCS11Error):  # already closed or logged out
                session.close()

    def _require(self, key_type: KeyType, *mechanisms: Mechanism) -> None:
        for missing in set(mechanisms) - self._mechanisms:
            raise KeyBackendError(f"{key_type}: CKM_{missing.name} not supported by this token")

    def _private_key(self, session: pkcs11.Session, reference: bytes) -> pkcs11.SignMixin:
        if reference not in self._keys:
            try:
                key = session.get_key(ObjectClass.PRIVATE_KEY, id=reference)
            except (p11.NoSuchKey, p11.MultipleObjectsReturned):
                key = None
            if not isinstance(key, pkcs11.SignMixin):
                raise KeyBackendError(f"no private key with CKA_ID {reference.hex()} on the token")
            self._keys[reference] = key
        return self._keys[reference]
