"""Opening the input PDF for an incremental update (ISO 32000-1 §7.5.6), and its pages.

A seal never rewrites the document: everything it adds is appended after the original
bytes, which stay byte-for-byte the first revision (ETSI EN 319 142-1 §5.4 relies on this
for earlier signatures).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.rw_common import find_inherited_value_in_tree

from seal.stamping.errors import EncryptedPdf, InvalidPdf
from seal.stamping.placement import Rect

MAX_PDF_BYTES = 200 * 1024 * 1024

#: What a broken or hostile PDF makes parsers raise (anything else is a bug of ours).
PARSE_ERRORS = (PdfError, KeyError, IndexError, TypeError, ValueError, AttributeError)


@contextmanager
def as_invalid_pdf(what: str) -> Iterator[None]:
    """Turn a parser error inside the block into :class:`InvalidPdf`."""
    try:
        yield
    except PARSE_ERRORS as exc:
        raise InvalidPdf(f"{what}: {type(exc).__name__}") from exc


def open_for_update(pdf: bytes) -> IncrementalPdfFileWriter:
    """A writer appending to ``pdf``; :class:`InvalidPdf` or :class:`EncryptedPdf`."""
    if b"%PDF-" not in pdf[:1024]:
        raise InvalidPdf("no %PDF- header (ISO 32000-1 §7.5.2)")
    if len(pdf) > MAX_PDF_BYTES:
        raise InvalidPdf(f"larger than {MAX_PDF_BYTES} bytes")
    with as_invalid_pdf("the file structure is broken"):
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        if writer.prev.encrypted:
            raise EncryptedPdf("decrypt it before sealing (ISO 32000-1 §7.6)")
        _ = writer.root["/Pages"]
    return writer


def _inherited(page: generic.DictionaryObject, key: str) -> Any:
    """An inheritable page attribute (ISO 32000-1 §7.7.3.4), None if absent."""
    return find_inherited_value_in_tree(page, key, "/Parent")  # type: ignore[no-untyped-call]


def _number(value: Any) -> float:
    if isinstance(value, generic.IndirectObject):
        value = value.get_object()  # type: ignore[no-untyped-call]
    return float(value)


def page_boxes(reader: PdfFileReader) -> list[Rect]:
    """Each page's visible area: its CropBox, else its MediaBox (ISO 32000-1 §14.11.2),
    inherited through the page tree (§7.7.3.4)."""
    with as_invalid_pdf("the page tree is broken"):
        count = int(reader.root["/Pages"]["/Count"])
        boxes: list[Rect] = []
        for index in range(count):
            page_ref, _ = reader.find_page_for_modification(index)  # type: ignore[no-untyped-call]
            page = page_ref.get_object()
            box = _inherited(page, "/CropBox")
            if box is None:
                box = _inherited(page, "/MediaBox")
            if box is None:
                raise InvalidPdf(f"page {index} has no MediaBox")
            x1, y1, x2, y2 = (_number(value) for value in box)
            boxes.append(Rect(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)))
        return boxes


def finish_revision(writer: IncrementalPdfFileWriter) -> IncrementalPdfFileWriter:
    """Write ``writer``'s changes as one incremental update and open the result again."""
    buffer = io.BytesIO()
    writer.write(buffer)  # type: ignore[no-untyped-call]
    return IncrementalPdfFileWriter(buffer, strict=False)
