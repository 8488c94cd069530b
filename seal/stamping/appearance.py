"""The visible seal: a transparent PNG drawn as an image XObject (ISO 32000-1 §8.9.5) with
its alpha channel as a soft mask (§11.6.5.3), in a form XObject (§8.10).

The signature widget's normal appearance (ISO 32000-1 §12.7.4.5, §12.5.5) shows the seal,
or its last slice for a cross-page seal; ETSI EN 319 142-1 §5.3 leaves the appearance to
the application, it is not part of what the signature proves beyond being in the signed
revision.
"""

from __future__ import annotations

import io
import math

from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.stamp.static import StaticStampStyle

from seal.stamping.errors import InvalidSealImage
from seal.stamping.placement import SealBox

MAX_SEAL_PIXELS = 4096 * 4096  # a seal is a few hundred pixels wide; refuse image bombs


def load_seal_image(png: bytes) -> Image.Image:
    """The seal as RGBA; :class:`InvalidSealImage` unless ``png`` is a readable PNG."""
    try:
        with Image.open(io.BytesIO(png)) as image:
            if image.format != "PNG":
                raise InvalidSealImage(f"expected a PNG, got {image.format}")
            if image.width * image.height > MAX_SEAL_PIXELS:
                raise InvalidSealImage(f"{image.width}x{image.height} pixels is too large")
            return image.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidSealImage(str(exc)) from None


def image_slice(image: Image.Image, index: int, count: int) -> Image.Image:
    """Vertical slice ``index`` of ``count`` (left to right) of ``image``."""
    if count == 1:
        return image
    left = math.floor(image.width * index / count)
    right = max(left + 1, math.floor(image.width * (index + 1) / count))
    return image.crop((left, 0, right, image.height))


def seal_style(image: Image.Image, box: SealBox) -> StaticStampStyle:
    """A stamp style that fills ``box`` with its slice of ``image``, no border."""
    part = image_slice(image, box.index, box.count)
    content = PdfImage(
        part, box=layout.BoxConstraints(width=box.rect.width, height=box.rect.height)
    )
    return StaticStampStyle(
        border_width=0,
        background=content,
        background_opacity=1.0,
        background_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID,
            y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins(),
            inner_content_scaling=layout.InnerScaling.STRETCH_FILL,
        ),
    )


def draw_slices(writer: IncrementalPdfFileWriter, image: Image.Image, boxes: list[SealBox]) -> None:
    """Draw ``boxes`` into their pages' content (a ``q ... Q`` wrapped form XObject each)."""
    for box in boxes:
        style = seal_style(image, box)
        stamp = style.create_stamp(
            writer, layout.BoxConstraints(width=box.rect.width, height=box.rect.height), {}
        )
        stamp.apply(box.page, box.rect.x1, box.rect.y1)  # type: ignore[arg-type]
