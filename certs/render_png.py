"""The licence page as a PNG preview (the same layout as the PDF), drawn with Pillow: text in
the CJK font, the QR, and the authority's seal image where the PDF's seal goes."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from certs.layout import LicencePage
from certs.qr_symbol import qr_png

DEFAULT_DPI = 150


def render_png(
    page: LicencePage, font_path: str, seal_png: bytes | None, dpi: int = DEFAULT_DPI
) -> bytes:
    scale = dpi / 72

    def px(x: float, y: float) -> tuple[int, int]:
        return round(x * scale), round((page.height - y) * scale)

    image = Image.new("RGB", px(page.width, 0), "white")
    draw = ImageDraw.Draw(image)
    frame = page.frame
    draw.rectangle(
        [px(frame.x, frame.top), px(frame.right, frame.y)],
        outline=frame.rgb,
        width=max(1, round(frame.line * scale)),
    )
    fonts: dict[float, ImageFont.FreeTypeFont] = {}
    for item in page.texts:
        font = fonts.setdefault(item.size, ImageFont.truetype(font_path, round(item.size * scale)))
        anchor = {"left": "ls", "centre": "ms", "right": "rs"}[item.anchor]
        draw.text(px(item.x, item.y), item.text, font=font, fill="black", anchor=anchor)
    side = round(page.qr.size * scale)
    with Image.open(io.BytesIO(qr_png(page.qr_text, scale=4))) as qr:
        image.paste(
            qr.convert("RGB").resize((side, side), Image.Resampling.NEAREST),
            px(page.qr.x, page.qr.y + page.qr.size),
        )
    if seal_png is not None:
        with Image.open(io.BytesIO(seal_png)) as seal:
            side = round(page.seal.size * scale)
            mark = seal.convert("RGBA").resize((side, side), Image.Resampling.LANCZOS)
            image.paste(mark, px(page.seal.x, page.seal.y + page.seal.size), mark)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
