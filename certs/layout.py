"""Where everything goes on the A4 page of an electronic licence (one layout, three renderers:
:mod:`certs.render_pdf`, :mod:`certs.render_png` and the OFD page of
:mod:`certs.ofd.package`, all drawing the same texts, boxes and red frame from here).

The page follows the paper licences it mirrors: the licence name as the title, the GB/T 36903
metadata and the type's own fields as label-value rows, the issuing authority and date at
the bottom right under the authority's seal, and the verification QR at the bottom left.
A person's holder code is shown masked (personal data); an organisation's USCC in full.
Coordinates are PDF points (1/72 inch) from the bottom-left corner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from certs.metadata import HOLDER_CODE_TYPE_NAMES, LONG_TERM
from certs.models import Licence, china_date
from certs.types import LicenceType

A4 = (595.0, 842.0)
LEFT = 72.0
VALUE_X = 200.0
RIGHT = 523.0
ROW_SIZE = 12.0
LINE = 20.0
QR_BOX = (60.0, 70.0, 132.0)
SEAL_BOX = (382.0, 96.0, 120.0)
FRAME_BOX = (36.0, 36.0, 523.0, 770.0)  # x, y, width, height: half an inch in from the edges
FRAME_LINE = 1.5
FRAME_RGB = (217, 26, 26)  # the red of a paper licence's border
Anchor = Literal["left", "centre", "right"]


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    size: float
    text: str
    anchor: Anchor = "left"


@dataclass(frozen=True)
class Box:
    """A square area: lower-left corner and side."""

    x: float
    y: float
    size: float


@dataclass(frozen=True)
class Frame:
    """The red border of a licence page: a stroked rectangle (lower-left corner, width,
    height), its line width in points and its colour (sRGB, 0-255)."""

    x: float
    y: float
    width: float
    height: float
    line: float
    rgb: tuple[int, int, int]

    @property
    def top(self) -> float:
        return self.y + self.height

    @property
    def right(self) -> float:
        return self.x + self.width


LICENCE_FRAME = Frame(*FRAME_BOX, FRAME_LINE, FRAME_RGB)


@dataclass(frozen=True)
class LicencePage:
    texts: tuple[Text, ...]
    qr: Box
    seal: Box
    qr_text: str
    width: float = A4[0]
    height: float = A4[1]
    frame: Frame = LICENCE_FRAME


def text_width(text: str, size: float) -> float:
    """Advance width for the CJK font used here: ideographs and full-width forms one em,
    the rest about half an em (close enough to centre and wrap)."""
    return size * sum(1.0 if ord(ch) >= 0x2E80 else 0.55 for ch in text)


def wrap(text: str, size: float, width: float) -> list[str]:
    lines, current = [], ""
    for ch in text:
        if current and text_width(current + ch, size) > width:
            lines.append(current)
            current = ""
        current += ch
    return [*lines, current] if current else lines or [""]


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(str(item) for item in value)
    return str(value)


def _chinese_date(day: Any) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def licence_rows(licence: Licence, licence_type: LicenceType) -> list[tuple[str, str]]:
    """The label-value rows, in the order a paper licence prints them."""
    rows = [
        ("证照编号", licence.licence_number),
        ("持证主体", licence.holder_name),
        (HOLDER_CODE_TYPE_NAMES[licence.holder_code_type], licence.holder_code_masked),
    ]
    properties = licence_type.fields_schema.get("properties", {})
    for name, value in licence.fields.items():
        label = properties.get(name, {}).get("title", name)
        rows.append((str(label), _value(value)))
    until = LONG_TERM if licence.valid_until is None else _chinese_date(licence.valid_until)
    rows.append(("有效期", f"{_chinese_date(licence.valid_from)}至{until}"))
    return rows


def licence_page(licence: Licence, licence_type: LicenceType, qr_text: str) -> LicencePage:
    width, height = A4
    texts = [
        Text(width / 2, height - 96, 28, licence_type.name, "centre"),
        Text(width / 2, height - 122, 11, f"（电子证照 · 第{licence.version}版）", "centre"),
    ]
    y = height - 170
    for label, value in licence_rows(licence, licence_type):
        texts.append(Text(LEFT, y, ROW_SIZE, label))
        for line in wrap(value, ROW_SIZE, RIGHT - VALUE_X):
            texts.append(Text(VALUE_X, y, ROW_SIZE, line))
            y -= LINE
        y -= 6
    seal_x, seal_y, seal_size = SEAL_BOX
    centre = seal_x + seal_size / 2
    texts += [
        Text(centre, seal_y + 62, 13, licence.issuer_name, "centre"),
        Text(centre, seal_y + 40, 12, _chinese_date(licence.issued_on), "centre"),
        Text(QR_BOX[0] + QR_BOX[2] / 2, QR_BOX[1] - 14, 8, "扫码核验 Scan to verify", "centre"),
        Text(LEFT, 34, 7, f"证照标识 {licence.identifier}"),
        Text(RIGHT, 34, 7, f"生成于 {china_date(licence.created_at).isoformat()}", "right"),
    ]
    return LicencePage(tuple(texts), Box(*QR_BOX), Box(*SEAL_BOX), qr_text)
