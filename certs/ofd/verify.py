"""Validate a sealed OFD file (GB/T 33190-2016 §18 签名的验证, with GB/T 38540-2020 seals).

For the package (``package`` check): a ZIP of safe paths (§7); ``OFD.xml`` with
``DocBody/DocRoot``; the document root, its resources and every page it lists parse
as OFD parts (§7); ``DocBody/Signatures`` names a signature list (§18) with at
least one signature.

For each signature in the list:

- ``signature_file``: ``Signature.xml`` exists and has ``SignedInfo`` with SM2-with-SM3 as
  ``SignatureMethod``, ``References`` with SM3 as ``CheckMethod`` and a ``SignedValue``
  that names an existing file (§18);
- ``reference``: every ``Reference`` names an existing file whose SM3 digest is its
  ``CheckValue`` (file integrity), and no file of the package is left
  unprotected except the signature list and the signatures' own files (a file added after
  sealing is named here);
- ``stamp``: each ``StampAnnot`` points at a page of the document;
- ``ses.<check>``: the ``SES_Signature`` in ``SignedValue`` passes the eight checks of
  :func:`seal.ses.verify.verify_ses_signature` over the bytes of ``Signature.xml``
  (the signed value); ``property_info``: its ``propertyInfo`` names this
  ``Signature.xml``.

Results are frozen dataclasses; every problem names its check and the file concerned. Never
raises on bad input.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from asn1crypto import core

from certs.ofd.package import OFD_XML
from certs.ofd.xml import OfdFormatError, parse_xml, q, read_container
from keys.sm2 import OID_SM2_WITH_SM3, OID_SM3, sm3
from seal.ses.asn1 import SES_Signature
from seal.ses.verify import SesTrust, SesVerification, verify_ses_signature

__all__ = ["OfdSignatureResult", "OfdVerification", "verify_ofd"]

Problem = tuple[str, str]


@dataclass(frozen=True)
class OfdSignatureResult:
    signature_id: str
    path: str
    references: int  # how many files the signature protects
    ses: SesVerification | None
    problems: tuple[Problem, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class OfdVerification:
    signatures: tuple[OfdSignatureResult, ...]
    problems: tuple[Problem, ...] = field(default=())  # package-level

    @property
    def all_problems(self) -> tuple[Problem, ...]:
        return self.problems + tuple(p for result in self.signatures for p in result.problems)

    @property
    def failed_checks(self) -> tuple[str, ...]:
        seen: list[str] = []
        for name, _ in self.all_problems:
            if name not in seen:
                seen.append(name)
        return tuple(seen)

    @property
    def valid(self) -> bool:
        return bool(self.signatures) and not self.all_problems

    @property
    def summary(self) -> str:
        if self.valid:
            return "valid"
        return "; ".join(f"{name}: {why}" for name, why in self.all_problems)


class _Invalid(Exception):
    def __init__(self, check: str, why: str) -> None:
        super().__init__(why)
        self.check = check
        self.why = why


def _resolve(base_dir: str, location: str | None) -> str:
    """A package path from ST_Loc: absolute from the root, or relative to
    ``base_dir``."""
    if not location or not location.strip():
        raise _Invalid("package", "an empty location")
    location = location.strip()
    joined = location.lstrip("/") if location.startswith("/") else f"{base_dir}/{location}"
    normal = posixpath.normpath(joined.lstrip("/"))
    if normal.startswith("..") or normal in (".", ""):
        raise _Invalid("package", f"location {location!r} leaves the package")
    return normal


def _part(files: dict[str, bytes], path: str, tag: str) -> Element:
    if path not in files:
        raise _Invalid("package", f"{path} is missing")
    try:
        root = parse_xml(files[path], path)
    except OfdFormatError as exc:
        raise _Invalid("package", str(exc)) from exc
    if root.tag != q(tag):
        raise _Invalid("package", f"{path} is not an ofd:{tag}")
    return root


def _text(node: Element, name: str) -> str | None:
    child = node.find(q(name))
    return child.text.strip() if child is not None and child.text else None


@dataclass(frozen=True)
class _Document:
    page_ids: frozenset[str]
    signatures: str | None


def _check_document(files: dict[str, bytes]) -> _Document:
    ofd = _part(files, OFD_XML, "OFD")
    body = ofd.find(q("DocBody"))
    if body is None:
        raise _Invalid("package", "OFD.xml has no DocBody")
    root_path = _resolve("", _text(body, "DocRoot"))
    document = _part(files, root_path, "Document")
    doc_dir = posixpath.dirname(root_path)
    common = document.find(q("CommonData"))
    if common is None:
        raise _Invalid("package", f"{root_path} has no CommonData")
    for name in ("PublicRes", "DocumentRes"):
        for node in common.findall(q(name)):
            _part(files, _resolve(doc_dir, node.text), "Res")
    pages = document.findall(f"{q('Pages')}/{q('Page')}")
    if not pages:
        raise _Invalid("package", f"{root_path} lists no page")
    for page in pages:
        _part(files, _resolve(doc_dir, page.get("BaseLoc")), "Page")
    signatures = _text(body, "Signatures")
    return _Document(
        frozenset(page.get("ID", "") for page in pages),
        _resolve("", signatures) if signatures else None,
    )


def _signature_list(files: dict[str, bytes], path: str) -> list[tuple[str, str]]:
    root = _part(files, path, "Signatures")
    entries = [
        (node.get("ID", ""), _resolve(posixpath.dirname(path), node.get("BaseLoc")))
        for node in root.findall(q("Signature"))
    ]
    if not entries:
        raise _Invalid("package", f"{path} lists no signature")
    return entries


def _own_files(files: dict[str, bytes], signature_path: str) -> set[str]:
    """The files belonging to one signature: its Signature.xml and its SignedValue."""
    own = {signature_path}
    try:
        root = parse_xml(files[signature_path], signature_path)
        own.add(_resolve(posixpath.dirname(signature_path), _text(root, "SignedValue")))
    except (KeyError, OfdFormatError, _Invalid):
        pass
    return own


def _check_references(
    info: Element, files: dict[str, bytes], base: str, exempt: set[str]
) -> tuple[int, list[Problem]]:
    problems: list[Problem] = []
    references = info.find(q("References"))
    if references is None:
        return 0, [("signature_file", "SignedInfo has no References")]
    if references.get("CheckMethod", "").strip() != OID_SM3:
        problems.append(("signature_file", "References CheckMethod is not SM3"))
        return 0, problems
    covered: set[str] = set()
    for reference in references.findall(q("Reference")):
        try:
            path = _resolve(base, reference.get("FileRef"))
        except _Invalid as exc:
            problems.append(("reference", exc.why))
            continue
        covered.add(path)
        if path not in files:
            problems.append(("reference", f"/{path}: referenced file is missing"))
            continue
        try:
            expected = base64.b64decode(_text(reference, "CheckValue") or "", validate=True)
        except (binascii.Error, ValueError):
            problems.append(("reference", f"/{path}: CheckValue is not base64"))
            continue
        if sm3(files[path]) != expected:
            problems.append(("reference", f"/{path}: SM3 digest does not match (changed)"))
    for path in sorted(set(files) - covered - exempt):
        problems.append(("reference", f"/{path}: not protected by the signature (added)"))
    return len(covered), problems


def _check_signature(
    files: dict[str, bytes],
    document: _Document,
    signature_id: str,
    path: str,
    exempt: set[str],
    trust: SesTrust,
) -> OfdSignatureResult:
    base = posixpath.dirname(path)
    try:
        root = _part(files, path, "Signature")
    except _Invalid as exc:
        return OfdSignatureResult(signature_id, path, 0, None, (("signature_file", exc.why),))
    problems: list[Problem] = []
    info = root.find(q("SignedInfo"))
    if info is None:
        return OfdSignatureResult(
            signature_id, path, 0, None, (("signature_file", "no SignedInfo"),)
        )
    if _text(info, "SignatureMethod") != OID_SM2_WITH_SM3:
        problems.append(("signature_file", "SignatureMethod is not SM2-with-SM3"))
    count, reference_problems = _check_references(info, files, base, exempt)
    problems += reference_problems
    for stamp in info.findall(q("StampAnnot")):
        if stamp.get("PageRef") not in document.page_ids:
            problems.append(("stamp", f"StampAnnot {stamp.get('ID')} points at no page"))
    try:
        value_path = _resolve(base, _text(root, "SignedValue"))
    except _Invalid as exc:
        problems.append(("signature_file", f"SignedValue: {exc.why}"))
        return OfdSignatureResult(signature_id, path, count, None, tuple(problems))
    if value_path not in files:
        problems.append(("signature_file", f"/{value_path} is missing"))
        return OfdSignatureResult(signature_id, path, count, None, tuple(problems))
    signed_value = files[value_path]
    ses = verify_ses_signature(signed_value, files[path], trust)
    problems += [(f"ses.{name}", why) for name, why in ses.problems]
    if ses.format_ok:
        property_info = _property_info(signed_value)
        if property_info is None or _resolve("", property_info) != path:
            problems.append(("property_info", f"the seal's propertyInfo is not /{path}"))
    return OfdSignatureResult(signature_id, path, count, ses, tuple(problems))


def _property_info(signed_value: bytes) -> str | None:
    try:
        value = SES_Signature.load(signed_value)["to_sign"]["property_info"]
        return str(value.native) if isinstance(value, core.IA5String) else None
    except (ValueError, TypeError, KeyError):
        return None


def verify_ofd(data: bytes, trust: SesTrust) -> OfdVerification:
    """Validate the OFD file ``data`` and every electronic seal on it."""
    try:
        files = read_container(data)
        document = _check_document(files)
        if document.signatures is None:
            raise _Invalid("package", "the document carries no signature (DocBody/Signatures)")
        entries = _signature_list(files, document.signatures)
    except OfdFormatError as exc:
        return OfdVerification((), (("package", str(exc)),))
    except _Invalid as exc:
        return OfdVerification((), ((exc.check, exc.why),))
    exempt = {document.signatures}
    for _, path in entries:
        exempt |= _own_files(files, path)
    results = tuple(
        _check_signature(files, document, signature_id, path, exempt, trust)
        for signature_id, path in entries
    )
    return OfdVerification(results)
