"""Where a seal will go, before it goes there: the page rendered with the seal drawn on it.

The boxes come from the stamping engine's own placement code
(:func:`seal.stamping.placement.locate` on the document's page boxes and text), so the
preview shows what sealing will do. The page is rendered by poppler's ``pdftoppm`` when it
is installed (Debian ``poppler-utils``), in a subprocess with a time limit; without it the
preview is a blank page of the right shape with the seal on it. Nothing is signed and
nothing is recorded: a preview is not a use of the seal.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from seal.stamping.document import open_for_update, page_boxes
from seal.stamping.placement import Placement, Rect, SealBox, locate
from seal.stamping.text_runs import PageText

PREVIEW_PIXELS = 900
"""The longer side of a preview, in pixels."""
RENDER_SECONDS = 20


@dataclass(frozen=True)
class Located:
    box: SealBox
    page: Rect
    pages: int


def locate_seal(pdf: bytes, placement: Placement) -> Located:
    """Where ``placement`` puts the seal on ``pdf`` (the engine's own errors otherwise:
    :class:`~seal.stamping.errors.InvalidPdf`, :class:`~seal.stamping.errors.PlacementError`)."""
    boxes = page_boxes(open_for_update(pdf).prev)
    found = locate(placement, boxes, PageText(pdf))[-1]
    return Located(found, boxes[found.page], len(boxes))


def _render_page(pdf: bytes, page: int) -> Image.Image | None:
    tool = shutil.which("pdftoppm")
    if tool is None:
        return None
    with tempfile.TemporaryDirectory(prefix="govtrust-preview-") as folder:
        source = Path(folder) / "in.pdf"
        source.write_bytes(pdf)
        target = Path(folder) / "page"
        try:
            subprocess.run(  # noqa: S603 - a fixed tool, our own temporary files
                [
                    tool,
                    "-f",
                    str(page + 1),
                    "-l",
                    str(page + 1),
                    "-scale-to",
                    str(PREVIEW_PIXELS),
                    "-png",
                    "-singlefile",
                    str(source),
                    str(target),
                ],
                check=True,
                capture_output=True,
                timeout=RENDER_SECONDS,
            )
            with Image.open(target.with_suffix(".png")) as image:
                return image.convert("RGB")
        except (subprocess.SubprocessError, OSError):
            return None


def _blank(page: Rect) -> Image.Image:
    scale = PREVIEW_PIXELS / max(page.width, page.height)
    size = (max(1, round(page.width * scale)), max(1, round(page.height * scale)))
    image = Image.new("RGB", size, (255, 255, 255))
    ImageDraw.Draw(image).rectangle((0, 0, size[0] - 1, size[1] - 1), outline=(150, 150, 150))
    return image


def preview_png(pdf: bytes, located: Located, seal_png: bytes) -> bytes:
    """The page the seal goes on, as a PNG, with the seal image drawn in its box."""
    page, box = located.page, located.box.rect
    image = _render_page(pdf, located.box.page) or _blank(page)
    scale = image.width / page.width
    left = round((box.x1 - page.x1) * scale)
    top = round((page.y2 - box.y2) * scale)
    side = max(1, round(box.width * scale))
    with Image.open(io.BytesIO(seal_png)) as seal:
        stamp = seal.convert("RGBA").resize((side, round(box.height * scale) or 1))
    canvas = image.convert("RGBA")
    canvas.paste(stamp, (left, top), stamp)
    ImageDraw.Draw(canvas).rectangle(
        (left, top, left + stamp.width, top + stamp.height), outline=(11, 87, 208, 255), width=2
    )
    out = io.BytesIO()
    canvas.convert("RGB").save(out, format="PNG", optimize=True)
    return out.getvalue()
