"""An electronic seal on an OFD document (GB/T 33190-2016 §18 数字签名, with the GB/T 38540-2020
electronic signature as the signed value).

What :func:`seal_ofd` adds (§18)::

    OFD.xml                              DocBody/Signatures -> Doc_0/Signs/Signatures.xml
    Doc_0/Signs/Signatures.xml           MaxSignId, Signature(ID, Type=Seal, BaseLoc)
    Doc_0/Signs/Sign_<n>/Signature.xml   SignedInfo, SignedValue
    Doc_0/Signs/Sign_<n>/SignedValue.dat the DER ``SES_Signature`` (GB/T 38540-2020)

``SignedInfo`` (§18) holds the ``Provider``, the ``SignatureMethod`` (SM2-with-SM3,
1.2.156.10197.1.501), the ``SignatureDateTime``, the ``References`` with ``CheckMethod`` SM3
(1.2.156.10197.1.401), one ``Reference`` per protected file: its absolute path in
``FileRef`` and ``CheckValue`` = base64(SM3(file bytes)) , and a ``StampAnnot``
(``PageRef``, ``Boundary`` in page millimetres) where readers draw the seal picture.

Protected files: every file of the package except ``Signatures.xml`` and this signature's
own ``Signature.xml`` and ``SignedValue.dat``, so that a later seal can be added beside this
one (earlier signatures' files are protected by this one); ofdrw calls this the
"continue sign" mode.

The signed value: an ``SES_Signature`` made by :func:`seal.ses.make.sign_data` whose data is
the bytes of ``Signature.xml`` (the References are inside it, so every protected file is
bound through its digest) and whose ``propertyInfo`` is that file's absolute path, as
GB/T 38540-2020 prescribes for OFD (签章原文 = 签名描述文件, 原文属性 = 其路径).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import x509 as asn1_x509

from certs.ofd.package import DOCUMENT, OFD_XML, Rect
from certs.ofd.xml import OfdFormatError, element, parse_xml, q, xml_bytes
from keys.backends.base import RawSigner
from keys.sm2 import OID_SM2_WITH_SM3, OID_SM3, sm3
from seal.ses.asn1 import SES_Seal
from seal.ses.make import sign_data
from seal.ses.timestamp import Timestamper

__all__ = [
    "PROVIDER",
    "SIGNATURES",
    "OfdSealer",
    "StampPlace",
    "protected_files",
    "seal_ofd",
    "signature_time",
]

SIGNATURES = "Doc_0/Signs/Signatures.xml"
PROVIDER = "govtrust"
#: GB/T 33190 leaves the format open (ST_String); UTC, seconds, as a GeneralizedTime.
TIME_FORMAT = "%Y%m%d%H%M%SZ"


@dataclass(frozen=True)
class OfdSealer:
    """Who seals: the GB/T 38540 seal, the signer's SM2 certificate (listed in the seal) and
    key, and optionally a timestamp authority."""

    seal: SES_Seal
    signer_certificate: asn1_x509.Certificate
    signer: RawSigner
    timestamper: Timestamper | None = None


@dataclass(frozen=True)
class StampPlace:
    """Where the seal picture goes: the page's ID and the box in page millimetres."""

    page_id: str
    boundary: Rect


def signature_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def protected_files(files: Mapping[str, bytes], own: tuple[str, ...]) -> list[str]:
    """The files a new signature references: all but Signatures.xml and ``own``."""
    return sorted(path for path in files if path != SIGNATURES and path not in own)


def _signature_paths(index: int) -> tuple[str, str]:
    directory = f"Doc_0/Signs/Sign_{index}"
    return f"{directory}/Signature.xml", f"{directory}/SignedValue.dat"


def _with_signatures_entry(ofd_xml: bytes) -> bytes:
    """OFD.xml with ``DocBody/Signatures`` (§7) pointing at Signatures.xml."""
    root = parse_xml(ofd_xml, OFD_XML)
    body = root.find(q("DocBody"))
    if body is None or body.find(q("DocRoot")) is None:
        raise OfdFormatError("OFD.xml has no DocBody/DocRoot")
    if body.find(q("DocRoot")).text != DOCUMENT:  # type: ignore[union-attr]
        raise OfdFormatError("only a package whose document is Doc_0 can be sealed here")
    if body.find(q("Signatures")) is None:
        element(body, "Signatures", SIGNATURES)
    return xml_bytes(root)


def _signatures_list(existing: bytes | None, sign_id: str, base_loc: str) -> bytes:
    root = element(None, "Signatures") if existing is None else parse_xml(existing, SIGNATURES)
    max_id = root.find(q("MaxSignId"))
    if max_id is None:
        max_id = element(None, "MaxSignId")
        root.insert(0, max_id)
    max_id.text = sign_id
    element(root, "Signature", ID=sign_id, Type="Seal", BaseLoc=base_loc)
    return xml_bytes(root)


def _signature_xml(
    files: Mapping[str, bytes],
    references: list[str],
    stamp: StampPlace,
    now: datetime,
    signed_value_path: str,
) -> bytes:
    signature = element(None, "Signature")
    info = element(signature, "SignedInfo")
    element(info, "Provider", ProviderName=PROVIDER, Version="1.0", Company=PROVIDER)
    element(info, "SignatureMethod", OID_SM2_WITH_SM3)
    element(info, "SignatureDateTime", signature_time(now))
    refs = element(info, "References", CheckMethod=OID_SM3)
    for path in references:
        reference = element(refs, "Reference", FileRef=f"/{path}")
        element(reference, "CheckValue", base64.b64encode(sm3(files[path])).decode("ascii"))
    element(info, "StampAnnot", ID="1", PageRef=stamp.page_id, Boundary=stamp.boundary.box())
    element(signature, "SignedValue", f"/{signed_value_path}")
    return xml_bytes(signature)


def seal_ofd(
    files: Mapping[str, bytes], sealer: OfdSealer, stamp: StampPlace, now: datetime
) -> dict[str, bytes]:
    """The files of the package with one more electronic seal (GB/T 33190-2016 §18)."""
    result = dict(files)
    result[OFD_XML] = _with_signatures_entry(result[OFD_XML])
    index = 0
    while _signature_paths(index)[0] in result:
        index += 1
    signature_path, signed_value_path = _signature_paths(index)
    result[SIGNATURES] = _signatures_list(
        result.get(SIGNATURES), str(index + 1), f"/{signature_path}"
    )
    references = protected_files(result, (signature_path, signed_value_path))
    signature_xml = _signature_xml(result, references, stamp, now, signed_value_path)
    ses = sign_data(
        sealer.seal,
        signature_xml,
        f"/{signature_path}",
        sealer.signer_certificate,
        sealer.signer,
        now,
        sealer.timestamper,
    )
    result[signature_path] = signature_xml
    result[signed_value_path] = bytes(ses.dump())
    return result
