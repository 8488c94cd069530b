"""The licence page as a PDF (ISO 32000-1): real text in an embedded, subset CJK font (so
``pdftotext`` and screen readers get the words), and the verification QR as an image
XObject (so a verifier reads it without rendering the page). Sealing is
:mod:`certs.documents`' job."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import pil_image
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from certs.layout import LicencePage, Text, text_width
from certs.qr_symbol import qr_png

QR_PIXELS_PER_MODULE = 4


def _x(item: Text) -> float:
    if item.anchor == "left":
        return item.x
    width = text_width(item.text, item.size)
    return item.x - (width / 2 if item.anchor == "centre" else width)


def _frame(page: LicencePage) -> bytes:
    """The red frame: ``RG`` stroke colour, ``w`` line width, ``re`` rectangle, ``S`` stroke
    (ISO 32000-1 §8.6.8, §8.4.4, §8.5.2.1, §8.5.3.1)."""
    frame = page.frame
    red, green, blue = (round(value / 255, 3) for value in frame.rgb)
    return b"q %g %g %g RG %g w %g %g %g %g re S Q" % (
        red,
        green,
        blue,
        frame.line,
        frame.x,
        frame.y,
        frame.width,
        frame.height,
    )


def render_pdf(page: LicencePage, font: Path, title: str) -> bytes:
    writer = PdfFileWriter(stream_xrefs=False)
    engine = GlyphAccumulatorFactory(str(font), font_size=12).create_font_engine(writer)
    ops = [_frame(page)]
    for item in page.texts:
        shaped = engine.shape(item.text).graphics_ops
        ops.append(b"BT /F1 %g Tf %g %g Td %s ET" % (item.size, _x(item), item.y, shaped))
    qr = Image.open(io.BytesIO(qr_png(page.qr_text, scale=QR_PIXELS_PER_MODULE))).convert("L")
    ops.append(
        b"q %g 0 0 %g %g %g cm /QR Do Q" % (page.qr.size, page.qr.size, page.qr.x, page.qr.y)
    )
    stream = writer.add_object(generic.StreamObject(stream_data=b"\n".join(ops)))
    resources = generic.DictionaryObject(
        {
            pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): engine.as_resource()}),
            pdf_name("/XObject"): generic.DictionaryObject(
                {pdf_name("/QR"): pil_image(qr, writer)}
            ),
        }
    )
    writer.insert_page(PageObject(stream, [0, 0, page.width, page.height], resources))
    writer.set_info(generic.DictionaryObject({pdf_name("/Title"): generic.TextStringObject(title)}))
    engine.prepare_write()
    _fix_widths(engine)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _fix_widths(engine: object) -> None:
    """pyHanko writes TrueType ``/W`` in font units; ISO 32000-1 §9.7.4.3 wants 1/1000 em."""
    upem = engine.units_per_em  # type: ignore[attr-defined]
    cid_font = engine.as_resource().get_object()["/DescendantFonts"][0].get_object()  # type: ignore[attr-defined]
    cid_font["/W"] = generic.ArrayObject(
        generic.ArrayObject(generic.NumberObject(round(w * 1000 / upem)) for w in item)
        if isinstance(item, generic.ArrayObject)
        else item
        for item in cid_font["/W"]
    )
