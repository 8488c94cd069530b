"""Make GB/T 38540-2020 seals and electronic signatures with SM2 keys from ``keys/``.

:func:`make_seal` builds ``SES_SealInfo`` and has the seal maker (制章人) sign its DER;
:func:`sign_data` builds ``TBS_Sign`` (seal, time, SM3 of the data, what the data is) and has
the signer (签章人) sign its DER, then optionally timestamps the signature value. Both
signatures are SM2-with-SM3 with the default ID (GB/T 32918.2, GM/T 0009 §10), made through a
:class:`~keys.backends.base.RawSigner` so the private key stays in its backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import x509 as asn1_x509

from keys.algorithms import KeyType
from keys.backends.base import RawSigner
from keys.sm2 import OID_SM2_WITH_SM3, sm3
from seal.ses.asn1 import (
    CERT_DIGEST_LIST,
    CERT_LIST,
    SES_HEADER_ID,
    SES_VERSION,
    CertDigestList,
    CertInfoList,
    ExtensionDatas,
    SES_Seal,
    SES_SealInfo,
    SES_Signature,
    TBS_Sign,
)
from seal.ses.timestamp import Timestamper

__all__ = ["SealPicture", "SealSpec", "make_seal", "sign_data"]

#: ``SES_Header.Vid``: who made the seal data.
VENDOR_ID = "govtrust"


@dataclass(frozen=True)
class SealPicture:
    """``SES_ESPictrueInfo``: image type ("PNG", "OFD", "SVG", ...), bytes, size in mm."""

    type: str
    data: bytes
    width_mm: int
    height_mm: int


@dataclass(frozen=True)
class SealSpec:
    """What a seal says (``SES_SealInfo``): ``signer_certificates`` are the certificates of
    the people or keys allowed to sign with it (``certList``)."""

    es_id: str
    seal_type: int
    name: str
    signer_certificates: Sequence[asn1_x509.Certificate]
    created: datetime
    valid_start: datetime
    valid_end: datetime
    picture: SealPicture
    cert_digests: bool = False  # certListType 2: SM3 digests instead of the certificates
    ext_datas: Sequence[tuple[str, bool, bytes]] = ()  # (OID, critical, value)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("seal times must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)


def _require_sm2(signer: RawSigner, role: str) -> None:
    if signer.key_type is not KeyType.SM2:
        raise ValueError(f"the {role} signs GB/T 38540 structures with SM2, not {signer.key_type}")


def _ext_datas(items: Sequence[tuple[str, bool, bytes]]) -> ExtensionDatas:
    return ExtensionDatas(
        [
            {"extn_id": oid, "critical": critical, "extn_value": value}
            for oid, critical, value in items
        ]
    )


def make_seal(
    spec: SealSpec, maker_certificate: asn1_x509.Certificate, maker: RawSigner
) -> SES_Seal:
    """GB/T 38540-2020 电子印章数据: the seal, signed by the seal maker."""
    _require_sm2(maker, "seal maker")
    if spec.cert_digests:
        cert_list: CertInfoList | CertDigestList = CertDigestList(
            [{"type": "sm3", "value": sm3(cert.dump())} for cert in spec.signer_certificates]
        )
    else:
        cert_list = CertInfoList([cert.dump() for cert in spec.signer_certificates])
    info: dict[str, object] = {
        "header": {"id": SES_HEADER_ID, "version": SES_VERSION, "vid": VENDOR_ID},
        "es_id": spec.es_id,
        "property": {
            "type": spec.seal_type,
            "name": spec.name,
            "cert_list_type": CERT_DIGEST_LIST if spec.cert_digests else CERT_LIST,
            "cert_list": cert_list,
            "create_date": _utc(spec.created),
            "valid_start": _utc(spec.valid_start),
            "valid_end": _utc(spec.valid_end),
        },
        "picture": {
            "type": spec.picture.type,
            "data": spec.picture.data,
            "width": spec.picture.width_mm,
            "height": spec.picture.height_mm,
        },
    }
    if spec.ext_datas:
        info["ext_datas"] = _ext_datas(spec.ext_datas)
    seal_info = SES_SealInfo(info)
    return SES_Seal(
        {
            "e_seal_info": seal_info,
            "cert": maker_certificate.dump(),
            "sign_alg_id": OID_SM2_WITH_SM3,
            "signed_value": maker.sign(seal_info.dump()),
        }
    )


def sign_data(
    seal: SES_Seal,
    data: bytes,
    property_info: str,
    signer_certificate: asn1_x509.Certificate,
    signer: RawSigner,
    now: datetime,
    timestamper: Timestamper | None = None,
    ext_datas: Sequence[tuple[str, bool, bytes]] = (),
) -> SES_Signature:
    """GB/T 38540-2020 电子签章数据: ``data`` signed with ``seal`` by ``signer``.

    ``property_info`` says what ``data`` is (in an OFD, the path of ``Signature.xml``)."""
    _require_sm2(signer, "signer")
    tbs: dict[str, object] = {
        "version": SES_VERSION,
        "eseal": seal,
        "time_info": _utc(now),
        "data_hash": sm3(data),
        "property_info": property_info,
    }
    if ext_datas:
        tbs["ext_datas"] = _ext_datas(ext_datas)
    to_sign = TBS_Sign(tbs)
    signature = signer.sign(to_sign.dump())
    result: dict[str, object] = {
        "to_sign": to_sign,
        "cert": signer_certificate.dump(),
        "signature_algorithm": OID_SM2_WITH_SM3,
        "signature": signature,
    }
    if timestamper is not None:
        result["time_stamp"] = timestamper(signature)
    return SES_Signature(result)
