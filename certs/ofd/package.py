"""The unsigned OFD package of a licence page (GB/T 33190-2016), drawn from the same page
model as the PDF (:func:`certs.layout.licence_page`).

Files written (paths relative to the package root, §7)::

    OFD.xml                              §7 entry file: DocBody -> DocInfo, DocRoot
    Doc_0/Document.xml                   §7 document root: CommonData, Pages
    Doc_0/PublicRes.xml                  §7 public resources: the font (§11)
    Doc_0/DocumentRes.xml                §7 document resources: the QR image (§10)
    Doc_0/Res/font_<id>.ttf              the CJK font, subset to the characters used
    Doc_0/Res/image_<id>.png             the verification QR (certs.qr_symbol.qr_png)
    Doc_0/Pages/Page_0/Content.xml       §7 the page: red frame, texts, QR image

Coordinates: the page model is in PDF points from the bottom-left corner; OFD uses
millimetres from the top-left corner (§7). A text's
``Boundary`` is its line box; ``TextCode`` X/Y place the first character's baseline inside it
and ``DeltaX`` gives the advance of each following character (§11) from the font's
own metrics, as the PDF renderer's glyphs advance. The anchor (left/centre/right) is resolved
with :func:`certs.layout.text_width`, as :mod:`certs.render_pdf` does.

The seal is not drawn here: it is the appearance of the OFD signature (``StampAnnot``, §18)
and readers draw it from the seal picture inside ``SignedValue.dat`` (:mod:`certs.ofd.signature`).
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.etree.ElementTree import Element

from fontTools import subset
from fontTools.ttLib import TTFont

from certs.layout import LicencePage, Text, text_width
from certs.ofd.xml import element, number, xml_bytes
from certs.qr_symbol import qr_png

__all__ = [
    "DOCUMENT",
    "MM_PER_POINT",
    "OFD_XML",
    "OfdPage",
    "Rect",
    "licence_package",
    "page_rect",
]

MM_PER_POINT = 25.4 / 72
OFD_XML = "OFD.xml"
DOCUMENT = "Doc_0/Document.xml"
PAGE_CONTENT = "Doc_0/Pages/Page_0/Content.xml"
QR_PIXELS_PER_MODULE = 8


@dataclass(frozen=True)
class Rect:
    """A box in OFD page space: millimetres, top-left origin (ST_Box)."""

    x: float
    y: float
    width: float
    height: float

    def box(self) -> str:
        return " ".join(number(v) for v in (self.x, self.y, self.width, self.height))


@dataclass(frozen=True)
class OfdPage:
    """The unsigned package: its files, the page's ID and where the seal goes (for the
    signature's ``StampAnnot``)."""

    files: dict[str, bytes]
    page_id: str
    seal: Rect
    size: Rect


def page_rect(page: LicencePage, x: float, y: float, width: float, height: float) -> Rect:
    """A rectangle of the page model (points, bottom-left origin, ``y`` its lower edge) in
    OFD space."""
    return Rect(
        x * MM_PER_POINT,
        (page.height - y - height) * MM_PER_POINT,
        width * MM_PER_POINT,
        height * MM_PER_POINT,
    )


class _Ids:
    """Object IDs, unique within the document (ST_ID); ``MaxUnitID`` is the last."""

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> str:
        self.last += 1
        return str(self.last)


class _Font:
    """The CJK font's advances (for ``DeltaX``) and a subset of it to embed."""

    def __init__(self, path: Path) -> None:
        self.font = TTFont(str(path))
        self.units = int(self.font["head"].unitsPerEm)
        self.cmap = self.font.getBestCmap()
        self.hmtx = self.font["hmtx"]
        names = self.font["name"]
        self.family = str(names.getDebugName(1) or path.stem)

    def advance(self, ch: str, size_mm: float) -> float:
        glyph = self.cmap.get(ord(ch), ".notdef")
        return float(self.hmtx[glyph][0]) * size_mm / self.units

    def subset(self, text: str) -> bytes:
        options = subset.Options()
        options.name_IDs = ["*"]
        options.notdef_outline = True
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=text)
        subsetter.subset(self.font)
        out = io.BytesIO()
        self.font.save(out)
        return out.getvalue()


def _start_x(item: Text) -> float:
    """The left end of ``item`` in points, as :mod:`certs.render_pdf` places it."""
    if item.anchor == "left":
        return item.x
    width = text_width(item.text, item.size)
    return item.x - (width / 2 if item.anchor == "centre" else width)


def _text_object(
    layer: Element, item: Text, page: LicencePage, font: _Font, ids: _Ids, font_id: str
) -> None:
    size = item.size * MM_PER_POINT
    advances = [font.advance(ch, size) for ch in item.text]
    left = _start_x(item) * MM_PER_POINT
    baseline = (page.height - item.y) * MM_PER_POINT
    boundary = Rect(left, baseline - size, max(sum(advances), size), size * 1.25)
    node = element(
        layer,
        "TextObject",
        ID=ids.next(),
        Boundary=boundary.box(),
        Font=font_id,
        Size=number(size),
    )
    element(node, "FillColor", Value="0 0 0")
    attributes = {"X": "0", "Y": number(size)}
    if len(item.text) > 1:
        attributes["DeltaX"] = " ".join(number(a) for a in advances[:-1])
    element(node, "TextCode", item.text, **attributes)


def _frame(layer: Element, page: LicencePage, ids: _Ids) -> None:
    frame = page.frame
    rect = page_rect(page, frame.x, frame.y, frame.width, frame.height)
    node = element(
        layer,
        "PathObject",
        ID=ids.next(),
        Boundary=rect.box(),
        LineWidth=number(frame.line * MM_PER_POINT),
        Stroke="true",
        Fill="false",
    )
    element(node, "StrokeColor", Value=" ".join(str(value) for value in frame.rgb))
    w, h = number(rect.width), number(rect.height)
    element(node, "AbbreviatedData", f"M 0 0 L {w} 0 L {w} {h} L 0 {h} C")  # §9 path data


def licence_package(
    page: LicencePage, font_path: Path, title: str, created: datetime, doc_id: str | None = None
) -> OfdPage:
    """The files of an unsigned one-page OFD showing ``page``."""
    ids = _Ids()
    font = _Font(font_path)
    size = Rect(0, 0, page.width * MM_PER_POINT, page.height * MM_PER_POINT)
    page_id, font_id, image_id = ids.next(), ids.next(), ids.next()
    font_file = f"font_{font_id}.ttf"
    image_file = f"image_{image_id}.png"

    content = element(None, "Page")
    area = element(content, "Area")
    element(area, "PhysicalBox", size.box())
    layer = element(element(content, "Content"), "Layer", ID=ids.next(), Type="Body")
    _frame(layer, page, ids)
    for item in page.texts:
        _text_object(layer, item, page, font, ids, font_id)
    qr = page_rect(page, page.qr.x, page.qr.y, page.qr.size, page.qr.size)
    element(
        layer,
        "ImageObject",
        ID=ids.next(),
        Boundary=qr.box(),
        CTM=f"{number(qr.width)} 0 0 {number(qr.height)} 0 0",  # §10: unit square to box
        ResourceID=image_id,
    )

    public_res = element(None, "Res", BaseLoc="Res")
    fonts = element(public_res, "Fonts")
    font_node = element(fonts, "Font", ID=font_id, FontName=font.family, FamilyName=font.family)
    element(font_node, "FontFile", font_file)

    document_res = element(None, "Res", BaseLoc="Res")
    medias = element(document_res, "MultiMedias")
    media = element(medias, "MultiMedia", ID=image_id, Type="Image", Format="PNG")
    element(media, "MediaFile", image_file)

    document = element(None, "Document")
    common = element(document, "CommonData")
    element(common, "MaxUnitID", str(ids.last))
    element(element(common, "PageArea"), "PhysicalBox", size.box())
    element(common, "PublicRes", "PublicRes.xml")
    element(common, "DocumentRes", "DocumentRes.xml")
    element(element(document, "Pages"), "Page", ID=page_id, BaseLoc="Pages/Page_0/Content.xml")

    ofd = element(None, "OFD", Version="1.0", DocType="OFD")
    body = element(ofd, "DocBody")
    info = element(body, "DocInfo")
    element(info, "DocID", doc_id or uuid.uuid4().hex)
    element(info, "Title", title)
    element(info, "Author", "govtrust")
    element(info, "CreationDate", created.date().isoformat())
    element(info, "Creator", "govtrust")
    element(body, "DocRoot", DOCUMENT)

    characters = "".join(sorted({ch for item in page.texts for ch in item.text}))
    files = {
        OFD_XML: xml_bytes(ofd),
        DOCUMENT: xml_bytes(document),
        "Doc_0/PublicRes.xml": xml_bytes(public_res),
        "Doc_0/DocumentRes.xml": xml_bytes(document_res),
        f"Doc_0/Res/{font_file}": font.subset(characters),
        f"Doc_0/Res/{image_file}": qr_png(page.qr_text, scale=QR_PIXELS_PER_MODULE),
        PAGE_CONTENT: xml_bytes(content),
    }
    seal = page_rect(page, page.seal.x, page.seal.y, page.seal.size, page.seal.size)
    return OfdPage(files=files, page_id=page_id, seal=seal, size=size)
