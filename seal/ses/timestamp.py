"""The optional timestamp of an electronic signature (GB/T 38540-2020, ``SES_Signature.
timeStamp``): an RFC 3161 ``TimeStampToken`` whose message imprint is the hash of the
signature value.

Checked here (RFC 3161 §2.4.2, RFC 5652 §5.4): the imprint matches the signature value, the
``message-digest`` attribute matches the ``TSTInfo``, and the token is signed by one of the
pinned TSA certificates (the ones in the trust bundle). Returns the token's ``genTime``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

from keys.algorithms import UnsupportedKeyType, verify_signature
from keys.sm2 import OID_SM3, sm3

__all__ = ["TimestampError", "Timestamper", "timestamp_request_digest", "verify_timestamp"]

#: Signs a signature value: returns a DER TimeStampToken over it (or raises).
Timestamper = Callable[[bytes], bytes]


class TimestampError(ValueError):
    pass


def _digest(algorithm: str, data: bytes) -> bytes:
    if algorithm in ("sm3", OID_SM3):
        return sm3(data)
    try:
        return hashlib.new(algorithm, data).digest()
    except ValueError as exc:
        raise TimestampError(f"unknown hash algorithm {algorithm}") from exc


def timestamp_request_digest(signature_value: bytes, algorithm: str = "sha256") -> bytes:
    """What a TSA is asked to stamp for ``signature_value``."""
    return _digest(algorithm, signature_value)


def _algorithm_name(identifier: object) -> str:
    algorithm = identifier["algorithm"]  # type: ignore[index]
    name = algorithm.native
    return OID_SM3 if algorithm.dotted == OID_SM3 else str(name)


def verify_timestamp(
    token_der: bytes, signature_value: bytes, tsa_certificates: Sequence[x509.Certificate]
) -> datetime:
    try:
        token = cms.ContentInfo.load(token_der, strict=True)
        _ = token.native
        signed = token["content"]
        tst_info_der = signed["encap_content_info"]["content"].contents
        tst_info = tsp.TSTInfo.load(tst_info_der)
        imprint = tst_info["message_imprint"]
        signer_info = signed["signer_infos"][0]
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError, ...
        raise TimestampError("the timestamp is not an RFC 3161 TimeStampToken") from exc
    if token["content_type"].native != "signed_data":
        raise TimestampError("the timestamp is not CMS SignedData")
    expected = _digest(_algorithm_name(imprint["hash_algorithm"]), signature_value)
    if imprint["hashed_message"].native != expected:
        raise TimestampError("the timestamp is not over this signature value")
    attributes = {attr["type"].native: attr["values"][0] for attr in signer_info["signed_attrs"]}
    digest = _digest(_algorithm_name(signer_info["digest_algorithm"]), tst_info_der)
    if "message_digest" not in attributes or attributes["message_digest"].native != digest:
        raise TimestampError("the timestamp's message digest does not match its TSTInfo")
    sid = signer_info["sid"]
    if sid.name != "issuer_and_serial_number":
        raise TimestampError("the timestamp names its signer by key identifier")
    for certificate in tsa_certificates:
        parsed = asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))
        if (
            parsed.issuer == sid.chosen["issuer"]
            and parsed.serial_number == sid.chosen["serial_number"].native
        ):
            try:
                verify_signature(
                    certificate.public_key(),
                    signer_info["signature"].native,
                    signer_info["signed_attrs"].untag().dump(),  # SET OF tag (RFC 5652 §5.4)
                )
            except (InvalidSignature, UnsupportedKeyType) as exc:
                raise TimestampError("the timestamp's signature does not verify") from exc
            gen_time: datetime = tst_info["gen_time"].native
            return gen_time
    raise TimestampError("the timestamp is not signed by a trusted TSA")
