"""Where a seal goes on a document (pure: no PDF parsing here).

Coordinates are PDF points in the page's default user space (ISO 32000-1 §8.3.2.3: origin
bottom-left, y up); pages are numbered from 0. Three ways to say where:

* :class:`AtPosition`: the seal's lower-left corner and size on one page.
* :class:`AtAnchor`: centred on a text such as "（盖章）" found in the page's text.
* :class:`CrossPage` (骑缝章): the seal cut into N vertical slices, slice *i* at the right
  edge of page *i*, so that the fanned-out pages show the whole seal.

:func:`locate` turns one of them into :class:`SealBox` es; the last box is the one the
signature field's widget annotation (ISO 32000-1 §12.7.4.5) takes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from seal.stamping.errors import AnchorNotFound, PlacementError

DEFAULT_SIZE = 120.0  # points: a 42 mm seal (4.2 cm official seals)


@dataclass(frozen=True)
class Rect:
    """A rectangle ``[x1 y1 x2 y2]`` (ISO 32000-1 §7.9.5), x1 < x2 and y1 < y2."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def contains(self, other: Rect, tolerance: float = 0.01) -> bool:
        return (
            other.x1 >= self.x1 - tolerance
            and other.y1 >= self.y1 - tolerance
            and other.x2 <= self.x2 + tolerance
            and other.y2 <= self.y2 + tolerance
        )


@dataclass(frozen=True)
class AtPosition:
    """The seal's lower-left corner at (``x``, ``y``) on ``page``, ``size`` points square."""

    page: int
    x: float
    y: float
    size: float = DEFAULT_SIZE


@dataclass(frozen=True)
class AtAnchor:
    """Centred on ``text`` moved by ``offset`` (dx, dy). ``page`` None searches every page;
    ``occurrence`` picks among the matches in reading order (-1: the last one, where the
    signature block of an approval usually is)."""

    text: str
    page: int | None = None
    size: float = DEFAULT_SIZE
    offset: tuple[float, float] = (0.0, 0.0)
    occurrence: int = -1


@dataclass(frozen=True)
class CrossPage:
    """A perforation seal over every page; ``y`` is the seal's vertical centre (None: the
    middle of each page)."""

    size: float = DEFAULT_SIZE
    y: float | None = None


Placement = AtPosition | AtAnchor | CrossPage


@dataclass(frozen=True)
class SealBox:
    """Slice ``index`` of ``count`` of the seal image, drawn in ``rect`` on ``page``."""

    page: int
    rect: Rect
    index: int = 0
    count: int = 1


@dataclass(frozen=True)
class TextRun:
    """A piece of a page's text starting at (x, y) on its baseline, in ``font_size`` points."""

    text: str
    x: float
    y: float
    font_size: float


def em_width(text: str) -> float:
    """Estimated advance of ``text`` in ems: full-width CJK characters are 1 em, others
    half (the font's own widths are not needed to centre a seal on an anchor)."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in ("W", "F") else 0.5 for ch in text)


def _check_size(size: float) -> None:
    if not size > 0:
        raise PlacementError(f"the seal size must be positive, not {size}")


def _check_page(page: int, count: int) -> None:
    if not 0 <= page < count:
        raise PlacementError(f"page {page} is out of range: the document has {count} page(s)")


def _square(page: Rect, cx: float, cy: float, size: float) -> Rect:
    """A ``size`` square centred on (cx, cy), moved inside ``page`` if it sticks out."""
    if size > page.width or size > page.height:
        raise PlacementError(f"a {size} pt seal does not fit on the page")
    x1 = min(max(cx - size / 2, page.x1), page.x2 - size)
    y1 = min(max(cy - size / 2, page.y1), page.y2 - size)
    return Rect(x1, y1, x1 + size, y1 + size)


def find_anchor(anchor: str, runs: Sequence[TextRun]) -> list[tuple[float, float]]:
    """Centres (x, y) of every occurrence of ``anchor`` in ``runs``, in reading order.

    The runs are joined first, so an anchor split over several text-showing operators
    (ISO 32000-1 §9.4.3) is still found; its centre is half-way between its first
    character's start and its last character's end, 0.35 em above the baseline.
    """
    if not anchor:
        raise PlacementError("the anchor text is empty")
    chars: list[tuple[str, float, float, float]] = []  # char, x, baseline y, size
    for run in runs:
        advance = 0.0
        for ch in run.text:
            chars.append((ch, run.x + advance * run.font_size, run.y, run.font_size))
            advance += em_width(ch)
    text = "".join(ch for ch, _, _, _ in chars)
    centres: list[tuple[float, float]] = []
    start = text.find(anchor)
    while start >= 0:
        first, last = chars[start], chars[start + len(anchor) - 1]
        end_x = last[1] + em_width(last[0]) * last[3]
        centres.append(((first[1] + end_x) / 2, first[2] + 0.35 * first[3]))
        start = text.find(anchor, start + 1)
    return centres


def locate(
    placement: Placement, pages: Sequence[Rect], runs: Callable[[int], Sequence[TextRun]]
) -> list[SealBox]:
    """The boxes ``placement`` asks for on a document whose page boxes are ``pages``;
    ``runs(i)`` gives page *i*'s text (only called for :class:`AtAnchor`)."""
    if not pages:
        raise PlacementError("the document has no pages")
    _check_size(placement.size)
    if isinstance(placement, AtPosition):
        _check_page(placement.page, len(pages))
        rect = Rect(
            placement.x, placement.y, placement.x + placement.size, placement.y + placement.size
        )
        if not pages[placement.page].contains(rect):
            raise PlacementError(f"the seal at ({placement.x}, {placement.y}) is off the page")
        return [SealBox(placement.page, rect)]
    if isinstance(placement, AtAnchor):
        if placement.page is not None:
            _check_page(placement.page, len(pages))
        candidates = range(len(pages)) if placement.page is None else [placement.page]
        matches = [
            (page, centre)
            for page in candidates
            for centre in find_anchor(placement.text, runs(page))
        ]
        try:
            page, (cx, cy) = matches[placement.occurrence]
        except IndexError:
            raise AnchorNotFound(
                f"{placement.text!r} occurs {len(matches)} time(s); "
                f"occurrence {placement.occurrence} was asked for"
            ) from None
        dx, dy = placement.offset
        return [SealBox(page, _square(pages[page], cx + dx, cy + dy, placement.size))]
    count = len(pages)
    width = placement.size / count
    boxes = []
    for index, page_box in enumerate(pages):
        cy = (page_box.y1 + page_box.y2) / 2 if placement.y is None else placement.y
        square = _square(page_box, page_box.x2 - placement.size / 2, cy, placement.size)
        boxes.append(
            SealBox(
                index, Rect(page_box.x2 - width, square.y1, page_box.x2, square.y2), index, count
            )
        )
    return boxes
