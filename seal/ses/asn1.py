"""ASN.1 of GB/T 38540-2020 (电子印章数据格式 and 电子签章数据格式, version 4), with asn1crypto.

Field names are the standard's, in snake case. Where the standard leaves a detail to the
implementer, or where the standard's text was not at hand here, this module follows what
interoperating implementations encode (ofdrw's ``org.ofdrw.gm.ses.v4`` and the OpenSSL-based
``gm_0031_38540_verifier``):

- ``SES_SealInfo.extDatas`` is untagged; ``TBS_Sign.extDatas`` and ``SES_Signature.timeStamp``
  are ``[0] EXPLICIT``;
- ``SES_ESPropertyInfo.certList`` is a CHOICE of two untagged SEQUENCE OF, told apart by
  ``certListType`` (1: certificates, 2: certificate digests), so it is decoded from that;
- the seal maker signs the DER ``SES_SealInfo``; the signer signs the DER ``TBS_Sign``.

::

    SES_Seal ::= SEQUENCE {                       -- 电子印章数据 (the standard's "SESeal")
        eSealInfo    SES_SealInfo,
        cert         OCTET STRING,                -- seal maker's certificate (DER)
        signAlgID    OBJECT IDENTIFIER,           -- 1.2.156.10197.1.501 SM2-with-SM3
        signedValue  BIT STRING }
    SES_SealInfo ::= SEQUENCE {
        header SES_Header, esID IA5String, property SES_ESPropertyInfo,
        picture SES_ESPictrueInfo, extDatas ExtensionDatas OPTIONAL }
    SES_Header ::= SEQUENCE { ID IA5String ("ES"), version INTEGER (4), Vid IA5String }
    SES_ESPropertyInfo ::= SEQUENCE {
        type INTEGER, name UTF8String, certListType INTEGER, certList SES_CertList,
        createDate GeneralizedTime, validStart GeneralizedTime, validEnd GeneralizedTime }
    SES_CertList ::= CHOICE { certs CertInfoList, certDigestList CertDigestList }
    CertInfoList ::= SEQUENCE OF OCTET STRING
    CertDigestList ::= SEQUENCE OF CertDigestObj
    CertDigestObj ::= SEQUENCE { type PrintableString, value OCTET STRING }
    SES_ESPictrueInfo ::= SEQUENCE {
        type IA5String, data OCTET STRING, width INTEGER, height INTEGER }  -- size in mm
    ExtensionDatas ::= SEQUENCE OF ExtData
    ExtData ::= SEQUENCE {
        extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }

    SES_Signature ::= SEQUENCE {                  -- 电子签章数据
        toSign TBS_Sign, cert OCTET STRING,       -- signer's certificate (DER)
        signatureAlgorithm OBJECT IDENTIFIER, signature BIT STRING,
        timeStamp [0] EXPLICIT BIT STRING OPTIONAL }   -- RFC 3161 token over signature
    TBS_Sign ::= SEQUENCE {
        version INTEGER (4), eseal SES_Seal, timeInfo GeneralizedTime,
        dataHash BIT STRING,                      -- SM3 of the signed data
        propertyInfo IA5String,                   -- what was signed (e.g. a path in an OFD)
        extDatas [0] EXPLICIT ExtensionDatas OPTIONAL }
"""

from __future__ import annotations

from asn1crypto import core

__all__ = [
    "CERT_DIGEST_LIST",
    "CERT_LIST",
    "SES_HEADER_ID",
    "SES_VERSION",
    "CertDigestList",
    "CertDigestObj",
    "CertInfoList",
    "ExtData",
    "ExtensionDatas",
    "SES_ESPictureInfo",
    "SES_ESPropertyInfo",
    "SES_Header",
    "SES_Seal",
    "SES_SealInfo",
    "SES_Signature",
    "TBS_Sign",
]

SES_HEADER_ID = "ES"
SES_VERSION = 4
CERT_LIST = 1  # certListType: certificates
CERT_DIGEST_LIST = 2  # certListType: certificate digests


# ruff: noqa: RUF012  (asn1crypto declares schemas as class-level lists)


class ExtData(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):  # type: ignore[misc]
    _child_spec = ExtData


class SES_Header(core.Sequence):  # type: ignore[misc]
    _fields = [("id", core.IA5String), ("version", core.Integer), ("vid", core.IA5String)]


class CertInfoList(core.SequenceOf):  # type: ignore[misc]
    _child_spec = core.OctetString


class CertDigestObj(core.Sequence):  # type: ignore[misc]
    _fields = [("type", core.PrintableString), ("value", core.OctetString)]


class CertDigestList(core.SequenceOf):  # type: ignore[misc]
    _child_spec = CertDigestObj


class SES_ESPropertyInfo(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", core.Any),  # CertInfoList or CertDigestList, by cert_list_type
        ("create_date", core.GeneralizedTime),
        ("valid_start", core.GeneralizedTime),
        ("valid_end", core.GeneralizedTime),
    ]


class SES_ESPictureInfo(core.Sequence):  # type: ignore[misc]
    """The standard spells it ``SES_ESPictrueInfo``."""

    _fields = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class SES_SealInfo(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("header", SES_Header),
        ("es_id", core.IA5String),
        ("property", SES_ESPropertyInfo),
        ("picture", SES_ESPictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SES_Seal(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("e_seal_info", SES_SealInfo),
        ("cert", core.OctetString),
        ("sign_alg_id", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
    ]


class TBS_Sign(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("version", core.Integer),
        ("eseal", SES_Seal),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SES_Signature(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("to_sign", TBS_Sign),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]
