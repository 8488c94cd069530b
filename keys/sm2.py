"""SM2 signatures with SM3 (GB/T 32918.2-2016, GM/T 0003.2-2012), in the forms X.509 and
the GB/T 38540 seal structures use them.

- Curve: the SM2 recommended curve (GB/T 32918.5-2017), OID ``1.2.156.10197.1.301``
  (GM/T 0006-2012); keys are ``id-ecPublicKey`` with that named curve (GM/T 0015-2012 §7).
- Signature: SM2 over ``SM3(Z_A || M)`` where ``Z_A = SM3(ENTL_A || ID_A || a || b || x_G ||
  y_G || x_A || y_A)`` (GB/T 32918.2-2016 §6.1, steps A1-A2), with the default distinguishing
  identifier ``ID_A = "1234567812345678"`` (GM/T 0009-2012 §10). Encoded as DER
  ``SEQUENCE { r INTEGER, s INTEGER }`` (GM/T 0009-2012 §7.2); algorithm OID
  ``1.2.156.10197.1.501`` SM2-with-SM3 (GM/T 0006-2012).
- Private keys: PKCS#8 DER (RFC 5208) with ``ECPrivateKey`` (RFC 5915), so the software key
  backend wraps them exactly like every other key (see :mod:`keys.master`).

Which implementation (issue #12, evaluated on Python 3.11, x86_64, Debian, 2026-11):

=========================  ====================================  ===============================
                           ``tongsuopy`` 1.0.1 (chosen)          ``gmssl-pyx`` 2.1.0
=========================  ====================================  ===============================
C library                  Tongsuo 8.3 (OpenSSL fork, reports    GmSSL 3.x, statically linked
                           "OpenSSL 1.1.1h" base), static
wheel                      abi3 manylinux_2_28 x86_64: any       one per CPython (3.11, 3.12,
                           CPython >= 3.6                        3.13 exist)
last release               2023-02                               2026-09
API                        ``cryptography``-shaped objects:      raw bytes: 32-byte private key,
                           PKCS#8 / SPKI / X9.62, exceptions     64-byte public key, bool results;
                                                                 no key (de)serialisation, no
                                                                 public-from-private
default ID 1234567812345678  yes (implicit)                       yes (``signer_id`` argument)
nonce                      OpenSSL DRBG                          ``/dev/urandom``
sign / verify per s        ~4,300 / ~5,000                       ~470 / ~2,150 (message API;
(one core, 200 B)                                                ~5,200 signing a Z digest)
verified by openssl 3.0    yes (``-sigopt distid:...``)          yes
quirks                     none found                            prints GmSSL error traces to
                                                                 stderr when a signature fails
=========================  ====================================  ===============================

Both imported, signed and verified here, and each verified the other's signatures. Chosen:
``tongsuopy``, because its key objects serialise to the PKCS#8 DER the software backend
already stores, it checks a loaded key (point on the curve), computes ``Z_A`` itself and signs
nine times faster through the message API. Its risk is age: no release since 2023-02 on an
OpenSSL 1.1.1 code base. Only SM2 key generation, signing and verification go through it
(never X.509 or TLS parsing), and this module is the only place that imports it, so moving to
``gmssl-pyx`` means rewriting this file alone. The pure-Python ``gmssl`` package is not used:
it draws the signature nonce ``k`` from ``random`` (a non-cryptographic RNG), which leaks the
private key.

Non-default distinguishing identifiers are not offered: ``tongsuopy`` has no way to set one,
and GM/T 0009 uses the default wherever no other is agreed.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization as c_serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.utils import Buffer
from tongsuopy.crypto import exceptions as t_exceptions
from tongsuopy.crypto import hashes as t_hashes
from tongsuopy.crypto import serialization as t_serialization
from tongsuopy.crypto.asymciphers import ec as t_ec

__all__ = [
    "DEFAULT_DISTID",
    "OID_SM2_CURVE",
    "OID_SM2_WITH_SM3",
    "OID_SM3",
    "SM2Curve",
    "SM2WithSM3",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "load_sm2_public_key",
    "sm3",
]

#: GM/T 0009-2012 §10: the user ID when none is agreed.
DEFAULT_DISTID = b"1234567812345678"
#: GM/T 0006-2012 object identifiers.
OID_SM2_CURVE = "1.2.156.10197.1.301"
OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"
OID_SM3 = "1.2.156.10197.1.401"

#: GB/T 32918.5-2017: order n of the base point of the recommended curve.
_ORDER = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905-2016) of ``data``: 32 bytes."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


class SM2Curve(ec.EllipticCurve):
    """The SM2 recommended curve (GB/T 32918.5-2017), so that SM2 keys are
    :class:`~cryptography.hazmat.primitives.asymmetric.ec.EllipticCurvePublicKey` objects
    wherever ``keys/`` passes public keys around."""

    @property
    def name(self) -> str:
        return "sm2"

    @property
    def key_size(self) -> int:
        return 256

    @property
    def group_order(self) -> int:
        return _ORDER


class SM2WithSM3(ec.EllipticCurveSignatureAlgorithm):
    """SM2 signature over SM3 with the default ID (GB/T 32918.2 §6.1, GM/T 0009 §10)."""

    @property
    def algorithm(self) -> hashes.HashAlgorithm:
        return hashes.SM3()


def _tongsuo_public(point: bytes) -> Any:
    try:
        return t_ec.EllipticCurvePublicKey.from_encoded_point(t_ec.SM2(), point)
    except ValueError as exc:
        raise ValueError(f"not a point on the SM2 curve: {exc}") from exc


class Sm2PublicKey(ec.EllipticCurvePublicKey):
    """An SM2 public key. ``verify`` accepts :class:`SM2WithSM3` only: an SM2 key never
    verifies ECDSA."""

    def __init__(self, point: bytes) -> None:
        """``point``: the X9.62 uncompressed point ``04 || x || y`` (65 bytes)."""
        if len(point) != 65 or point[0] != 4:
            raise ValueError("an SM2 public key is a 65-byte uncompressed point")
        self._point = bytes(point)
        self._key = _tongsuo_public(self._point)

    @classmethod
    def _from_tongsuo(cls, key: Any) -> Sm2PublicKey:
        point = key.public_bytes(
            t_serialization.Encoding.X962, t_serialization.PublicFormat.UncompressedPoint
        )
        return cls(point)

    @property
    def curve(self) -> ec.EllipticCurve:
        return SM2Curve()

    @property
    def key_size(self) -> int:
        return 256

    def public_numbers(self) -> ec.EllipticCurvePublicNumbers:
        x = int.from_bytes(self._point[1:33], "big")
        y = int.from_bytes(self._point[33:], "big")
        return ec.EllipticCurvePublicNumbers(x, y, SM2Curve())

    def public_bytes(
        self, encoding: c_serialization.Encoding, format: c_serialization.PublicFormat
    ) -> bytes:
        """SubjectPublicKeyInfo (DER or PEM) or the raw X9.62 uncompressed point."""
        if format is c_serialization.PublicFormat.UncompressedPoint:
            if encoding is not c_serialization.Encoding.X962:
                raise ValueError("an uncompressed point is X9.62-encoded")
            return self._point
        if format is not c_serialization.PublicFormat.SubjectPublicKeyInfo:
            raise ValueError(f"SM2 public keys are not written as {format}")
        if encoding is c_serialization.Encoding.DER:
            return bytes(
                self._key.public_bytes(
                    t_serialization.Encoding.DER,
                    t_serialization.PublicFormat.SubjectPublicKeyInfo,
                )
            )
        if encoding is c_serialization.Encoding.PEM:
            return bytes(
                self._key.public_bytes(
                    t_serialization.Encoding.PEM,
                    t_serialization.PublicFormat.SubjectPublicKeyInfo,
                )
            )
        raise ValueError(f"SM2 public keys are not written as {encoding}")

    def verify(
        self,
        signature: Buffer,
        data: Buffer,
        signature_algorithm: ec.EllipticCurveSignatureAlgorithm,
    ) -> None:
        """Raise :class:`~cryptography.exceptions.InvalidSignature` unless ``signature`` (DER
        ``(r, s)``) is an SM2-with-SM3 signature of ``data`` under the default ID."""
        if not isinstance(signature_algorithm, SM2WithSM3):
            raise UnsupportedAlgorithm("SM2 keys verify SM2-with-SM3 signatures only")
        self.verify_sm2(bytes(signature), bytes(data))

    def verify_sm2(self, signature: bytes, data: bytes) -> None:
        """GB/T 32918.2-2016 §7 (verification, steps B1-B7)."""
        try:
            r, s = decode_dss_signature(signature)  # DER (r, s), GM/T 0009-2012 §7.2
            if not (0 < r < _ORDER and 0 < s < _ORDER):  # B1, B2
                raise ValueError("r or s out of range")
            self._key.verify(signature, data, t_ec.ECDSA(t_hashes.SM3()))
        except (t_exceptions.InvalidSignature, t_exceptions.InternalError, ValueError) as exc:
            raise InvalidSignature("SM2 signature does not verify") from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sm2PublicKey) and other._point == self._point

    def __hash__(self) -> int:
        return hash(self._point)

    def __copy__(self) -> Sm2PublicKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Sm2PublicKey:
        return self

    def __repr__(self) -> str:
        return f"Sm2PublicKey({self._point[1:9].hex()}...)"


class Sm2PrivateKey:
    """An SM2 private key in memory (the software backend's; never leaves this process)."""

    def __init__(self, key: Any) -> None:
        if not isinstance(key, t_ec.EllipticCurvePrivateKey) or not isinstance(key.curve, t_ec.SM2):
            raise ValueError("not an SM2 private key")
        self._key = key
        self._public = Sm2PublicKey._from_tongsuo(key.public_key())

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        """GB/T 32918.1-2016 §6.1: d in [1, n-2] at random, P = dG."""
        return cls(t_ec.generate_private_key(t_ec.SM2()))

    @classmethod
    def from_pkcs8_der(cls, der: bytes) -> Sm2PrivateKey:
        try:
            key = t_serialization.load_der_private_key(der, password=None)
        except (ValueError, TypeError, t_exceptions.UnsupportedAlgorithm) as exc:
            raise ValueError("not a PKCS#8 SM2 private key") from exc
        return cls(key)

    def pkcs8_der(self) -> bytes:
        return bytes(
            self._key.private_bytes(
                t_serialization.Encoding.DER,
                t_serialization.PrivateFormat.PKCS8,
                t_serialization.NoEncryption(),
            )
        )

    def public_key(self) -> Sm2PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        """GB/T 32918.2-2016 §6 (signature generation, steps A1-A7): DER ``(r, s)`` over
        ``SM3(Z_A || data)`` with the default ID; a fresh random ``k`` per signature."""
        return bytes(self._key.sign(data, t_ec.ECDSA(t_hashes.SM3())))

    def __repr__(self) -> str:
        return f"Sm2PrivateKey(public={self._public!r})"


def load_sm2_public_key(der_or_pem: bytes) -> Sm2PublicKey:
    """An SM2 SubjectPublicKeyInfo (DER or PEM) as :class:`Sm2PublicKey`; ``ValueError``
    for any other key."""
    loader = (
        t_serialization.load_pem_public_key
        if der_or_pem.lstrip().startswith(b"-----")
        else t_serialization.load_der_public_key
    )
    try:
        key = loader(der_or_pem)
    except (ValueError, TypeError, t_exceptions.UnsupportedAlgorithm) as exc:
        raise ValueError("not an SM2 public key") from exc
    if not isinstance(key, t_ec.EllipticCurvePublicKey) or not isinstance(key.curve, t_ec.SM2):
        raise ValueError("not an SM2 public key")
    return Sm2PublicKey._from_tongsuo(key)
