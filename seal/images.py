"""Images of electronic seals: drawn from a design, or uploaded and checked.

:func:`render_seal` draws a seal the way GA 241-2000 (印章制作规范) and the public-security
rules for official seals describe it, in red on a transparent background:

- 公章 (``official``): round, the organisation's name clockwise along the upper arc, a
  five-pointed star in the centre, optionally the seal's name horizontally below the star;
- 审批专用章, 合同专用章, 财务专用章 (``approval``, ``contract``, ``finance``): the same,
  with the seal's name below the star;
- 发票专用章 (``invoice``): the State Taxation Administration's ellipse, 40 mm x 30 mm,
  the taxpayer identification number in the centre and "发票专用章" below it, no star;
- 法定代表人名章 (``name``): a square with the person's name in a 2x2 (or 2x1) grid, read
  right to left, top to bottom.

Optionally the unified social credit code (GB 32100-2015) is printed small along the lower
arc of a round seal. The geometry is in :mod:`seal.image_layout`; this module validates the
design, finds a CJK font and rasterises (4x supersampled, box-filtered: antialiased and
byte-for-byte deterministic). Every pixel has the seal's colour; only alpha varies.

:func:`check_uploaded_seal` accepts a seal image made elsewhere if it looks like one and
returns it re-encoded without metadata.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFont, UnidentifiedImageError

from core.errors.problem import ProblemError
from seal.image_layout import (
    Glyph,
    Layout,
    Oval,
    Square,
    ellipse_layout,
    round_layout,
    square_layout,
)
from seal.models import SealKind

__all__ = [
    "DEFAULT_TITLES",
    "FONT_SEARCH_PATHS",
    "STANDARD_SIZES_MM",
    "InvalidSealDesign",
    "InvalidSealImage",
    "SealDesign",
    "SealFontMissing",
    "check_uploaded_seal",
    "find_font",
    "layout_for",
    "render_seal",
]

FONT_SEARCH_PATHS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian fonts-wqy-microhei
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian fonts-noto-cjk
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",  # Debian fonts-noto-cjk
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian fonts-wqy-zenhei
    "/usr/share/fonts/truetype/arphic/uming.ttc",  # Debian fonts-arphic-uming
)
"""CJK fonts tried in order when no ``font_path`` is given."""

DEFAULT_TITLES: dict[str, str] = {
    "approval": "审批专用章",
    "contract": "合同专用章",
    "finance": "财务专用章",
    "invoice": "发票专用章",
}
"""The name printed on a seal whose design gives no ``title`` (a 公章 prints none)."""

STANDARD_SIZES_MM: dict[str, float] = {
    "official": 42.0,
    "approval": 42.0,
    "contract": 42.0,
    "finance": 42.0,
    "invoice": 40.0,
    "name": 20.0,
}
"""Size when the design gives none: GA 241-2000's 42 mm round seal (专用章 may be 38-42 mm),
the invoice seal's 40 mm major axis (30 mm minor), a 20 mm square name seal."""

MIN_SIZE_MM, MAX_SIZE_MM = 10.0, 100.0
MIN_DPI, MAX_DPI = 72, 1200
MAX_ORGANISATION, MAX_TITLE, MAX_CODE = 40, 12, 20
SUPERSAMPLE_LIMIT_PX = 6000
"""Largest side of the supersampled drawing surface; beyond it fewer samples are taken."""

GLYPH_EMBOLDEN = 0.018
"""Outline added around each glyph, as a fraction of the em (both sides: twice that)."""

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MIN_UPLOAD_SIDE, MAX_UPLOAD_SIDE = 100, 2000
MIN_RED_SHARE = 0.85
"""Share of an uploaded seal's opaque pixels that must be red."""

_CODE_CHARACTERS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class InvalidSealDesign(ProblemError, ValueError):
    """A design that cannot be drawn; ``field`` names the offending attribute.

    The message never repeats the value (an organisation's or a person's name).
    """

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(422, "invalid-seal-design", "Invalid seal design", detail, field=field)
        self.field = field


class InvalidSealImage(ProblemError, ValueError):
    """An uploaded seal image refused; ``reason`` is a short machine code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(422, "invalid-seal-image", "Invalid seal image", detail, reason=reason)
        self.reason = reason


class SealFontMissing(RuntimeError):
    """No usable CJK font: a deployment error (install the Debian package fonts-wqy-microhei)."""


@dataclass(frozen=True)
class SealDesign:
    """What a drawn seal shows. Validated on construction (:class:`InvalidSealDesign`).

    ``organisation``: 1-40 characters along the upper arc (every kind but ``name`` prints
    it). ``title``: up to 12 characters below the star; ``None`` takes
    :data:`DEFAULT_TITLES` (none for a 公章). ``code``: up to 20 characters ``0-9A-Z`` (the
    USCC, GB 32100-2015), along the lower arc of a round seal or in the centre of the invoice
    seal. ``person_name``: the name seal's 2-4 characters (and only the name seal's).
    ``diameter_mm``: the round seal's diameter, the invoice seal's major axis or the name
    seal's side; ``None`` takes :data:`STANDARD_SIZES_MM`. ``colour``: red, RGB.
    """

    kind: SealKind
    organisation: str
    title: str | None = None
    code: str | None = None
    person_name: str | None = None
    diameter_mm: float | None = None
    colour: tuple[int, int, int] = (220, 0, 0)

    def __post_init__(self) -> None:
        if self.kind not in STANDARD_SIZES_MM:
            raise InvalidSealDesign("kind", f"kind must be one of {sorted(STANDARD_SIZES_MM)}")
        _check_text("organisation", self.organisation, 1, MAX_ORGANISATION)
        if self.title is not None:
            _check_text("title", self.title, 1, MAX_TITLE)
        if self.code is not None and (
            not 1 <= len(self.code) <= MAX_CODE or not set(self.code) <= _CODE_CHARACTERS
        ):
            raise InvalidSealDesign(
                "code", f"code must be 1-{MAX_CODE} characters 0-9 or A-Z (e.g. a USCC)"
            )
        if self.kind == "name":
            if self.person_name is None:
                raise InvalidSealDesign("person_name", "a name seal needs person_name")
            _check_text("person_name", self.person_name, 2, 4)
            if any(c.isspace() for c in self.person_name):
                raise InvalidSealDesign("person_name", "person_name must not contain spaces")
            if self.title is not None or self.code is not None:
                raise InvalidSealDesign("title", "a name seal shows only the person's name")
        elif self.person_name is not None:
            raise InvalidSealDesign("person_name", "only a name seal shows person_name")
        if self.diameter_mm is not None and not (
            math.isfinite(self.diameter_mm) and MIN_SIZE_MM <= self.diameter_mm <= MAX_SIZE_MM
        ):
            raise InvalidSealDesign(
                "diameter_mm", f"diameter_mm must be {MIN_SIZE_MM:g}-{MAX_SIZE_MM:g} mm"
            )
        if not _is_red(self.colour):
            raise InvalidSealDesign("colour", "a seal is red: R >= 150, G < 80, B < 80")

    @property
    def size_mm(self) -> float:
        """Diameter (round), major axis (invoice) or side (name seal), in millimetres."""
        return self.diameter_mm if self.diameter_mm is not None else STANDARD_SIZES_MM[self.kind]

    @property
    def printed_title(self) -> str | None:
        """The name printed below the star (or below the code, on the invoice seal)."""
        return self.title if self.title is not None else DEFAULT_TITLES.get(self.kind)


def _check_text(field: str, value: object, shortest: int, longest: int) -> None:
    if not isinstance(value, str) or not shortest <= len(value) <= longest:
        raise InvalidSealDesign(field, f"{field} must be {shortest}-{longest} characters")
    # control, format, surrogate, private-use and unassigned characters; line separators
    if any(
        unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp") for c in value
    ):
        raise InvalidSealDesign(field, f"{field} must not contain control characters")
    if not value.strip():
        raise InvalidSealDesign(field, f"{field} must not be blank")


def _is_red(colour: Sequence[int]) -> bool:
    return (
        len(colour) == 3
        and all(isinstance(v, int) and 0 <= v <= 255 for v in colour)
        and colour[0] >= 150
        and colour[1] < 80
        and colour[2] < 80
    )


def layout_for(design: SealDesign) -> Layout:
    """The geometry of ``design`` (see :mod:`seal.image_layout`)."""
    if design.kind == "name":
        assert design.person_name is not None
        return square_layout(design.person_name, design.size_mm)
    if design.kind == "invoice":
        return ellipse_layout(
            design.organisation, design.printed_title, design.code, design.size_mm
        )
    return round_layout(design.organisation, design.printed_title, design.code, design.size_mm)


def find_font(font_path: str | None = None) -> str:
    """``font_path`` if it exists, else the first of :data:`FONT_SEARCH_PATHS` that does."""
    if font_path is not None:
        if Path(font_path).is_file():
            return font_path
        raise SealFontMissing(
            f"font {font_path!r} not found; install a CJK font, e.g. the Debian package "
            "fonts-wqy-microhei"
        )
    for candidate in FONT_SEARCH_PATHS:
        if Path(candidate).is_file():
            return candidate
    raise SealFontMissing(
        "no CJK font for drawing seals: install the Debian package fonts-wqy-microhei "
        f"(looked for {', '.join(FONT_SEARCH_PATHS)})"
    )


def render_seal(design: SealDesign, *, dpi: int = 300, font_path: str | None = None) -> bytes:
    """Draw ``design`` as an RGBA PNG at ``dpi`` (72-1200), transparent outside the seal.

    The image is ``size_mm * dpi / 25.4`` pixels across (the invoice seal 3/4 of that
    high) and records its resolution (pHYs), so it prints at the seal's true size. The same
    design, dpi and font always give the same bytes. Raises :class:`SealFontMissing` if no
    font is found, :class:`InvalidSealDesign` for a bad ``dpi``.
    """
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not MIN_DPI <= dpi <= MAX_DPI:
        raise InvalidSealDesign("dpi", f"dpi must be an integer {MIN_DPI}-{MAX_DPI}")
    path = find_font(font_path)
    layout = layout_for(design)
    alpha = _rasterise(layout, dpi, path)
    image = Image.new("RGBA", alpha.size, (*design.colour, 0))
    image.putalpha(alpha)
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(dpi, dpi))
    return out.getvalue()


def _rasterise(layout: Layout, dpi: int, font_path: str) -> Image.Image:
    """The seal's coverage (alpha) at ``dpi``: drawn supersampled, then box-filtered down."""
    width = max(1, round(layout.width * dpi / 25.4))
    height = max(1, round(layout.height * dpi / 25.4))
    factor = max(1, min(4, SUPERSAMPLE_LIMIT_PX // max(width, height)))
    sx, sy = width * factor / layout.width, height * factor / layout.height
    mask = Image.new("L", (width * factor, height * factor), 0)
    draw = ImageDraw.Draw(mask)
    border = layout.border
    if isinstance(border, Oval):
        draw.ellipse(
            (
                (border.cx - border.rx) * sx,
                (border.cy - border.ry) * sy,
                (border.cx + border.rx) * sx,
                (border.cy + border.ry) * sy,
            ),
            outline=255,
            width=max(1, round(border.stroke * sx)),
        )
    elif isinstance(border, Square):
        draw.rounded_rectangle(
            (border.x0 * sx, border.y0 * sy, border.x1 * sx, border.y1 * sy),
            radius=border.radius * sx,
            outline=255,
            width=max(1, round(border.stroke * sx)),
        )
    for shape in layout.shapes:
        draw.polygon([(x * sx, y * sy) for x, y in shape.points], fill=255)
    if layout.glyphs:
        _draw_glyphs(mask, layout.glyphs, sx, sy, font_path)
    return mask.reduce(factor) if factor > 1 else mask


def _draw_glyphs(
    mask: Image.Image, glyphs: Sequence[Glyph], sx: float, sy: float, font_path: str
) -> None:
    """Stamp each glyph: its em box squeezed into the glyph's cell, rotated, then pasted."""
    em = max(8, round(max(max(g.width * sx, g.height * sy) for g in glyphs)))
    try:
        font = ImageFont.truetype(font_path, em)
    except OSError as exc:
        raise SealFontMissing(
            f"cannot read font {font_path!r} ({exc}); install the Debian package fonts-wqy-microhei"
        ) from exc
    boxes: dict[str, Image.Image] = {}
    centre = _ink_centre(font, em)
    for glyph in glyphs:
        box = boxes.get(glyph.char)
        if box is None:
            box = boxes[glyph.char] = _em_box(font, em, centre, glyph.char)
        cell = (max(1, round(glyph.width * sx)), max(1, round(glyph.height * sy)))
        stamp = box.resize(cell, Image.Resampling.LANCZOS)
        if glyph.rotation:
            # Pillow turns counter-clockwise; a glyph's rotation is clockwise
            stamp = stamp.rotate(-glyph.rotation, Image.Resampling.BICUBIC, expand=True)
        left = round(glyph.x * sx - stamp.width / 2)
        top = round(glyph.y * sy - stamp.height / 2)
        mask.paste(255, (left, top, left + stamp.width, top + stamp.height), stamp)


def _stroke(em: int) -> int:
    """Extra outline that gives a regular-weight font the weight of engraved seal lettering."""
    return round(em * GLYPH_EMBOLDEN)


def _ink_centre(font: ImageFont.FreeTypeFont, em: int) -> tuple[float, float]:
    """Centre of the ink of 国 (a full-size CJK character) drawn at the middle anchor."""
    probe = Image.new("L", (2 * em, 2 * em), 0)
    ImageDraw.Draw(probe).text(
        (em, em), "国", font=font, fill=255, anchor="mm", stroke_width=_stroke(em)
    )
    bbox = probe.getbbox()
    if bbox is None:
        return (float(em), float(em))
    return ((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2)


def _em_box(
    font: ImageFont.FreeTypeFont, em: int, centre: tuple[float, float], char: str
) -> Image.Image:
    """``char`` in an ``em`` x ``em`` box, placed as a CJK character would be."""
    canvas = Image.new("L", (2 * em, 2 * em), 0)
    ImageDraw.Draw(canvas).text(
        (em, em), char, font=font, fill=255, anchor="mm", stroke_width=_stroke(em)
    )
    left = round(centre[0] - em / 2)
    top = round(centre[1] - em / 2)
    return canvas.crop((left, top, left + em, top + em))


def check_uploaded_seal(png: bytes) -> bytes:
    """Accept an uploaded seal image and return it re-encoded, without any metadata.

    Refused (:class:`InvalidSealImage`) unless it is a PNG (by signature and by Pillow's
    decoder, not animated) of at most 2 MiB, 100-2000 pixels on each side, with an alpha
    channel (or tRNS transparency), transparent corners and background, and at least
    85 % of its opaque pixels red. The returned PNG is RGBA with only the pixels: no text,
    time, ICC or EXIF chunks, and fully transparent pixels zeroed.
    """
    if len(png) > MAX_UPLOAD_BYTES:
        raise InvalidSealImage("too-large", "a seal image may be at most 2 MiB")
    if not png.startswith(_PNG_SIGNATURE):
        raise InvalidSealImage("not-png", "a seal image must be a PNG")
    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as probe:
            probe.verify()
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            if getattr(image, "is_animated", False):
                raise InvalidSealImage("animated", "a seal image must not be animated")
            w, h = image.size
            if not (
                MIN_UPLOAD_SIDE <= w <= MAX_UPLOAD_SIDE and MIN_UPLOAD_SIDE <= h <= MAX_UPLOAD_SIDE
            ):
                raise InvalidSealImage(
                    "dimensions",
                    f"a seal image must be {MIN_UPLOAD_SIDE}-{MAX_UPLOAD_SIDE} pixels "
                    f"on each side, not {w}x{h}",
                )
            if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
                raise InvalidSealImage("no-alpha", "a seal image needs an alpha channel")
            image.load()
            rgba = image.convert("RGBA")
    except InvalidSealImage:
        raise
    except (
        OSError,
        SyntaxError,
        ValueError,
        UnidentifiedImageError,
        Image.DecompressionBombError,
    ) as exc:
        raise InvalidSealImage("not-png", "a seal image must be a valid PNG") from exc
    _check_seal_pixels(rgba)
    alpha = rgba.getchannel("A")
    visible = alpha.point(lambda a: 255 if a else 0)
    clean = Image.new("RGBA", rgba.size, (0, 0, 0, 0))
    clean.paste(rgba, (0, 0), visible)
    out = io.BytesIO()
    Image.frombytes("RGBA", clean.size, clean.tobytes()).save(out, format="PNG")
    return out.getvalue()


def _check_seal_pixels(rgba: Image.Image) -> None:
    """Transparent corners and background; opaque pixels mostly red (HSV hue within ±20°)."""
    w, h = rgba.size
    alpha = rgba.getchannel("A")
    patch = max(2, min(w, h) // 50)
    for left, top in ((0, 0), (w - patch, 0), (0, h - patch), (w - patch, h - patch)):
        if any(alpha.crop((left, top, left + patch, top + patch)).histogram()[17:]):
            raise InvalidSealImage(
                "background", "a seal image must have a transparent background (corners)"
            )
    total = w * h
    transparent = sum(alpha.histogram()[:16])
    if transparent < 0.2 * total:
        raise InvalidSealImage("background", "a seal image must have a transparent background")
    opaque = alpha.point(lambda a: 255 if a >= 128 else 0)
    opaque_count = opaque.histogram()[255]
    if opaque_count < 0.005 * total:
        raise InvalidSealImage("empty", "a seal image must show a seal")
    hue, saturation, value = rgba.convert("RGB").convert("HSV").split()
    red_hue = hue.point(lambda v: 255 if v <= 14 or v >= 241 else 0)
    strong = ImageChops.multiply(
        saturation.point(lambda v: 255 if v >= 110 else 0),
        value.point(lambda v: 255 if v >= 128 else 0),
    )
    red = ImageChops.multiply(ImageChops.multiply(red_hue, strong), opaque)
    if red.histogram()[255] < MIN_RED_SHARE * opaque_count:
        raise InvalidSealImage("colour", "a seal image must be red")
