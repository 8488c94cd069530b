"""Geometry of seal images, in millimetres: where the border, the star and every glyph go.

Pure arithmetic, no pixels (:mod:`seal.images` rasterises a :class:`Layout`). Coordinates
have their origin at the top-left corner of the image, x to the right and y downwards;
angles are in degrees, clockwise, 0 meaning "upright".

The proportions follow GA 241-2000 (印章制作规范) and the public-security rules for official
seals, scaled with the seal's size from the 42 mm reference seal:

- a round seal (公章 and the 专用章 such as 合同专用章, 财务专用章, 审批专用章) has an outer
  ring about 1.2 mm wide; the organisation's name runs clockwise along the upper arc ("自左而
  右环行"), each character upright with respect to the ring; a five-pointed star 14 mm
  across sits in the centre; the seal's name (if any) runs horizontally below the star;
  an optional code runs along the lower arc, read left to right;
- the invoice seal (发票专用章, State Taxation Administration format) is an ellipse 40 mm by
  30 mm with a 1 mm border: the taxpayer's name along the upper arc, the taxpayer
  identification number horizontally in the centre, "发票专用章" below it, and no star;
- the legal representative's name seal (法定代表人名章) is a square with a border and the
  name in a grid of 2x2 (or 2x1) cells, read right to left, top to bottom.

Each glyph gets an em-box cell (``width`` x ``height``): a full CJK character's ink fills
about 90 % of it, and a cell narrower than it is tall compresses the character sideways, as
seal engravers do to fit long names.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

__all__ = [
    "Glyph",
    "Layout",
    "Oval",
    "Polygon",
    "Square",
    "corners",
    "ellipse_layout",
    "name_cells",
    "round_layout",
    "square_layout",
    "star_points",
]

REFERENCE_DIAMETER_MM = 42.0
"""GA 241-2000: the 42 mm official seal, from which every proportion here is scaled."""

ORGANISATION_SPAN_DEG = 230.0
"""How much of the ring a long organisation name covers, centred at the top."""

DEGREES_PER_CHARACTER = 40.0
"""Spacing of short organisation names (fewer than seven characters cover less arc)."""

STAR_FILL_RATIO = 0.381966
"""Inner to outer radius of a regular five-pointed star: sin 18° / sin 54°."""


@dataclass(frozen=True)
class Glyph:
    """One character drawn in a ``width`` x ``height`` mm cell centred at (``x``, ``y``)."""

    char: str
    x: float
    y: float
    width: float
    height: float
    rotation: float = 0.0
    """Clockwise, in degrees: the cell's top points this far round from straight up."""


@dataclass(frozen=True)
class Oval:
    """An elliptical (or circular) border: centre, outer semi-axes and stroke width."""

    cx: float
    cy: float
    rx: float
    ry: float
    stroke: float


@dataclass(frozen=True)
class Square:
    """A square border with rounded corners: bounding box, corner radius, stroke width."""

    x0: float
    y0: float
    x1: float
    y1: float
    radius: float
    stroke: float


@dataclass(frozen=True)
class Polygon:
    """A filled polygon (the star)."""

    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Layout:
    """Everything on one seal image of ``width`` x ``height`` mm."""

    width: float
    height: float
    border: Oval | Square
    shapes: tuple[Polygon, ...]
    glyphs: tuple[Glyph, ...]


def star_points(cx: float, cy: float, radius: float) -> tuple[tuple[float, float], ...]:
    """The ten vertices of a regular five-pointed star with one point straight up."""
    points: list[tuple[float, float]] = []
    for i in range(10):
        r = radius if i % 2 == 0 else radius * STAR_FILL_RATIO
        angle = math.radians(36.0 * i)
        points.append((cx + r * math.sin(angle), cy - r * math.cos(angle)))
    return tuple(points)


def _row(
    text: str, cx: float, cy: float, cell_w: float, cell_h: float, advance: float
) -> list[Glyph]:
    """``text`` horizontally, centred at (``cx``, ``cy``), one cell every ``advance`` mm."""
    first = cx - advance * (len(text) - 1) / 2
    return [Glyph(c, first + i * advance, cy, cell_w, cell_h) for i, c in enumerate(text)]


def _upper_arc(text: str, cx: float, cy: float, top_radius: float, scale: float) -> list[Glyph]:
    """``text`` clockwise along the upper arc, glyph tops on the circle ``top_radius``.

    Each glyph's cell is rotated by its angle from the top, so the character stands upright
    on the ring (its top pointing away from the centre).
    """
    n = len(text)
    height = 6.9 * scale
    span = math.radians(min(ORGANISATION_SPAN_DEG, DEGREES_PER_CHARACTER * (n - 1)))
    for _ in range(3):  # long names: narrower cells, then shorter ones so they stay legible
        radius = top_radius - height / 2
        # spacing where the glyphs are closest: their feet, on the inner edge of the band
        advance = (radius - height / 2) * span / (n - 1) if n > 1 else height
        width = min(0.9 * height, 0.95 * advance)
        height = min(height, 2.6 * width)
    glyphs = []
    for i, char in enumerate(text):
        theta = -span / 2 + i * span / (n - 1) if n > 1 else 0.0
        glyphs.append(
            Glyph(
                char,
                cx + radius * math.sin(theta),
                cy - radius * math.cos(theta),
                width,
                height,
                math.degrees(theta),
            )
        )
    return glyphs


def _lower_arc(
    text: str, cx: float, cy: float, outer_radius: float, height: float, max_span: float
) -> list[Glyph]:
    """``text`` read left to right along the lower arc, glyph tops towards the centre.

    Glyph bottoms lie on the circle ``outer_radius``; the text covers at most ``max_span``
    degrees centred at the bottom.
    """
    n = len(text)
    radius = outer_radius - height / 2
    advance = min(0.62 * height, radius * math.radians(max_span) / max(n - 1, 1))
    step = advance / radius
    glyphs = []
    for i, char in enumerate(text):
        psi = (i - (n - 1) / 2) * step  # 0 at the bottom, positive to the right
        glyphs.append(
            Glyph(
                char,
                cx + radius * math.sin(psi),
                cy + radius * math.cos(psi),
                advance / 0.62,
                height,
                -math.degrees(psi),
            )
        )
    return glyphs


def _title(title: str, cx: float, top: float, height: float, limit: float) -> list[Glyph]:
    """The seal's name horizontally, its top at ``top``, narrowed to fit ``limit`` mm across."""
    advance = min(0.8 * height, limit / len(title))
    return _row(title, cx, top + height / 2, advance, height, advance)


def corners(glyph: Glyph) -> tuple[tuple[float, float], ...]:
    """The four corners of a glyph's cell, rotated: top-left, top-right, bottom-right, -left."""
    theta = math.radians(glyph.rotation)
    right = (math.cos(theta), math.sin(theta))
    up = (math.sin(theta), -math.cos(theta))
    return tuple(
        (
            glyph.x + u * glyph.width / 2 * right[0] + v * glyph.height / 2 * up[0],
            glyph.y + u * glyph.width / 2 * right[1] + v * glyph.height / 2 * up[1],
        )
        for u, v in ((-1, 1), (1, 1), (1, -1), (-1, -1))
    )


def _free_half_width(glyphs: list[Glyph], cx: float, top: float, bottom: float) -> float:
    """How far from ``cx`` a horizontal band [top, bottom] is clear of the glyphs' cells.

    Walks the outline of every cell (16 points a side) and keeps the nearest point inside
    the band; ``math.inf`` if none is.
    """
    free = math.inf
    for glyph in glyphs:
        ring = corners(glyph)
        for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
            for k in range(17):
                x, y = x0 + (x1 - x0) * k / 16, y0 + (y1 - y0) * k / 16
                if top <= y <= bottom:
                    free = min(free, abs(x - cx))
    return free


def _chord(radius: float, distance: float) -> float:
    """Length of the chord of a circle ``radius`` at ``distance`` from its centre."""
    return 2 * math.sqrt(max(radius * radius - distance * distance, 0.0))


def round_layout(organisation: str, title: str | None, code: str | None, diameter: float) -> Layout:
    """A round seal (公章, 专用章) of ``diameter`` mm, per GA 241-2000.

    Ring 1.2 mm, organisation name over 230° of the upper arc (less for fewer than seven
    characters), a star 14 mm across in the centre, the title below the star, and the code
    (if any) over at most 80° of the lower arc; all for the 42 mm seal, scaled with it.
    """
    scale = diameter / REFERENCE_DIAMETER_MM
    c = diameter / 2
    outer = c - 0.1 * scale
    stroke = 1.2 * scale
    inner = outer - stroke
    glyphs = _upper_arc(organisation, c, c, inner - 0.7 * scale, scale)
    star_radius = 7.0 * scale
    limit_radius = inner - 0.8 * scale
    if code:
        code_height = 2.9 * scale
        glyphs += _lower_arc(code, c, c, inner - 0.5 * scale, code_height, 80.0)
        limit_radius = inner - 0.5 * scale - code_height - 0.6 * scale
    if title:
        height = 5.0 * scale
        top = c + star_radius * math.cos(math.radians(36)) + 1.2 * scale
        clear = _free_half_width(glyphs, c, top, top + height) - 0.6 * scale
        limit = min(0.92 * _chord(limit_radius, top + height - c), 2 * clear)
        glyphs += _title(title, c, top, height, limit)
    return Layout(
        width=diameter,
        height=diameter,
        border=Oval(c, c, outer, outer, stroke),
        shapes=(Polygon(star_points(c, c, star_radius)),),
        glyphs=tuple(glyphs),
    )


def _ellipse_arc_params(a: float, b: float, span: float, n: int) -> list[float]:
    """Parameters t of ``n`` points evenly spaced by arc length on (a sin t, -b cos t).

    t runs over [-span/2, span/2] (radians, 0 at the top); the arc length is summed over a
    fixed grid of 2000 steps, so the result is deterministic.
    """
    if n == 1:
        return [0.0]
    steps = 2000
    ts = [-span / 2 + span * k / steps for k in range(steps + 1)]
    lengths = [0.0]
    for t0, t1 in itertools.pairwise(ts):
        lengths.append(
            lengths[-1]
            + math.hypot(a * (math.sin(t1) - math.sin(t0)), b * (math.cos(t1) - math.cos(t0)))
        )
    total = lengths[-1]
    params = []
    k = 0
    for i in range(n):
        target = total * i / (n - 1)
        while k < steps and lengths[k + 1] < target:
            k += 1
        if k == steps:
            params.append(ts[-1])
            continue
        piece = lengths[k + 1] - lengths[k]
        fraction = (target - lengths[k]) / piece if piece else 0.0
        params.append(ts[k] + fraction * (ts[k + 1] - ts[k]))
    return params


def ellipse_layout(organisation: str, title: str | None, code: str | None, width: float) -> Layout:
    """The invoice seal (发票专用章): an ellipse ``width`` x 0.75 ``width`` mm, no star.

    State Taxation Administration format: 40 mm x 30 mm, border 1 mm; the taxpayer's name
    along the upper arc from left to right, the taxpayer identification number (``code``)
    horizontally in the centre, "发票专用章" (``title``) below it.
    """
    scale = width / 40.0
    height_mm = 0.75 * width
    cx, cy = width / 2, height_mm / 2
    stroke = 1.0 * scale
    a_out, b_out = cx - 0.1 * scale, cy - 0.1 * scale
    a_in, b_in = a_out - stroke, b_out - stroke
    n = len(organisation)
    span = math.radians(min(230.0, DEGREES_PER_CHARACTER * (n - 1)))
    h = 4.6 * scale
    for _ in range(3):
        a_c, b_c = a_in - 0.6 * scale - h / 2, b_in - 0.6 * scale - h / 2
        params = _ellipse_arc_params(a_c, b_c, span, n)
        if n > 1:  # spacing of the glyphs' feet, on the inner edge of the band
            advance = min(
                math.hypot(
                    (a_c - h / 2) * (math.sin(params[k + 1]) - math.sin(params[k])),
                    (b_c - h / 2) * (math.cos(params[k + 1]) - math.cos(params[k])),
                )
                for k in range(n - 1)
            )
        else:
            advance = h
        w = min(0.85 * h, 0.95 * advance)
        h = min(h, 2.6 * w)
    glyphs = [
        Glyph(
            char,
            cx + a_c * math.sin(t),
            cy - b_c * math.cos(t),
            w,
            h,
            # the outward normal of the ellipse at this point, clockwise from straight up
            math.degrees(math.atan2(math.sin(t) / a_c, math.cos(t) / b_c)),
        )
        for char, t in zip(organisation, params, strict=True)
    ]
    arc = list(glyphs)
    if code:
        code_h = 3.4 * scale
        clear = _free_half_width(arc, cx, cy - code_h / 2, cy + code_h / 2) - 0.6 * scale
        room = min(2 * (a_in - 0.6 * scale - h) * 0.9, 2 * clear)
        advance = min(0.6 * code_h, room / len(code))
        glyphs += _row(code, cx, cy, advance / 0.6, code_h, advance)
    if title:
        title_h = 4.2 * scale
        title_cy = cy + 0.6 * b_in
        bottom = (title_cy - cy + title_h / 2) / b_in
        clear = _free_half_width(arc, cx, title_cy - title_h / 2, title_cy + title_h / 2)
        limit = min(0.85 * 2 * a_in * math.sqrt(max(1 - bottom * bottom, 0.0)), 2 * clear - scale)
        advance = min(0.8 * title_h, limit / len(title))
        glyphs += _row(title, cx, title_cy, advance, title_h, advance)
    return Layout(
        width=width,
        height=height_mm,
        border=Oval(cx, cy, a_out, b_out, stroke),
        shapes=(),
        glyphs=tuple(glyphs),
    )


def name_cells(name: str) -> str:
    """The characters of a name seal in reading order, adding 印 to three-character names.

    Traditional name seals fill a 2x2 grid; a three-character name takes "印" as its fourth
    character (e.g. 张三丰 -> 张三丰印). Two-character names fill a 2x1 grid.
    """
    return name + "印" if len(name) == 3 else name


def square_layout(name: str, side: float) -> Layout:
    """The name seal (法定代表人名章): a square ``side`` mm with the name in a 2x2 or 2x1 grid.

    Read right to left, top to bottom: the right-hand column first, each column top to
    bottom. The border is about 1 mm wide for a 20 mm seal, with slightly rounded corners.
    """
    scale = side / 20.0
    chars = name_cells(name)
    inset = 0.25 * scale
    stroke = 1.0 * scale
    pad = inset + stroke + 0.5 * scale
    columns = 2
    rows = 2 if len(chars) == 4 else 1
    cell_w = (side - 2 * pad) / columns
    cell_h = (side - 2 * pad) / rows
    glyphs = []
    for i, char in enumerate(chars):
        column = columns - 1 - i // rows  # right to left
        row = i % rows  # top to bottom
        glyphs.append(
            Glyph(
                char,
                pad + (column + 0.5) * cell_w,
                pad + (row + 0.5) * cell_h,
                cell_w * 1.04,
                cell_h * 1.04,
            )
        )
    return Layout(
        width=side,
        height=side,
        border=Square(inset, inset, side - inset, side - inset, 1.2 * scale, stroke),
        shapes=(),
        glyphs=tuple(glyphs),
    )
