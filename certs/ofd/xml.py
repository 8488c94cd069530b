"""The XML of OFD parts (GB/T 33190-2016 §7: namespace ``http://www.ofdspec.org/2016``,
prefix ``ofd``, UTF-8) and the package's ZIP container (§7).

Reading takes untrusted input: a document type declaration is refused outright (no entity
of any kind is expanded; expat >= 2.4 also limits amplification), and the container's entries
are bounded in number and size and must be plain relative paths."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from xml.etree import ElementTree as ET

__all__ = [
    "NS",
    "OfdFormatError",
    "element",
    "number",
    "parse_xml",
    "q",
    "read_container",
    "write_container",
    "xml_bytes",
]

NS = "http://www.ofdspec.org/2016"
ET.register_namespace("ofd", NS)

MAX_ENTRIES = 1000
MAX_TOTAL_BYTES = 64 * 1024 * 1024


class OfdFormatError(ValueError):
    """Not a well-formed OFD package or part."""


def q(name: str) -> str:
    """The qualified name ``{ns}name`` of an OFD element."""
    return f"{{{NS}}}{name}"


def number(value: float) -> str:
    """A number in ST_Box/ST_Array style: at most three decimals, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def element(
    parent: ET.Element | None, name: str, text: str | None = None, **attributes: str
) -> ET.Element:
    """An ``ofd:name`` element (a child of ``parent`` if given); attributes are unqualified."""
    node = (
        ET.Element(q(name), attributes)
        if parent is None
        else ET.SubElement(parent, q(name), attributes)
    )
    if text is not None:
        node.text = text
    return node


def xml_bytes(root: ET.Element) -> bytes:
    return bytes(ET.tostring(root, encoding="UTF-8", xml_declaration=True))


def parse_xml(data: bytes, what: str) -> ET.Element:
    if b"<!DOCTYPE" in data.upper():
        raise OfdFormatError(f"{what}: a document type declaration is not allowed")
    try:
        return ET.fromstring(data)  # noqa: S314 (DOCTYPE refused above: no entities)
    except ET.ParseError as exc:
        raise OfdFormatError(f"{what}: not well-formed XML ({exc})") from exc


def write_container(files: Mapping[str, bytes]) -> bytes:
    """The ZIP of ``files`` (path -> bytes, paths relative to the package root), OFD.xml
    first, deflated, with fixed timestamps so the same files give the same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files, key=lambda name: (name != "OFD.xml", name)):
            info = zipfile.ZipInfo(path, date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[path])
    return out.getvalue()


def read_container(data: bytes) -> dict[str, bytes]:
    """The files of an OFD package (path -> bytes); :class:`OfdFormatError` if it is not a
    ZIP, holds too much, or names a path outside the package."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise OfdFormatError("not a ZIP container (GB/T 33190-2016 §7)") from exc
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        if len(infos) > MAX_ENTRIES:
            raise OfdFormatError("too many files in the package")
        if sum(info.file_size for info in infos) > MAX_TOTAL_BYTES:
            raise OfdFormatError("the package is too large")
        files: dict[str, bytes] = {}
        for info in infos:
            name = info.filename
            parts = name.split("/")
            if name.startswith("/") or "\\" in name or ".." in parts or "" in parts:
                raise OfdFormatError(f"unsafe path in the package: {name!r}")
            if name in files:
                raise OfdFormatError(f"{name} appears twice in the package")
            try:
                files[name] = archive.read(info)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise OfdFormatError(f"{name}: cannot be read ({exc})") from exc
    return files
