"""A page's text with positions, for anchor placement, read with pypdf.

pypdf's ``extract_text(visitor_text=...)`` calls back with each piece of text, the current
transformation matrix (CTM, ISO 32000-1 §8.3.4) and the text matrix (§9.4.2); the piece
starts at the origin of Tm x CTM, in the page's default user space.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from typing import Any

from pypdf import PdfReader

from seal.stamping.errors import InvalidPdf
from seal.stamping.placement import TextRun

log = logging.getLogger(__name__)


def _multiply(a: Sequence[float], b: Sequence[float]) -> tuple[float, ...]:
    """The product ``a x b`` of two PDF matrices ``[a b c d e f]`` (ISO 32000-1 §8.3.4)."""
    return (
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    )


class PageText:
    """Lazily extracted text runs of each page of a PDF (parsed once, on first use)."""

    def __init__(self, pdf: bytes) -> None:
        self._pdf = pdf
        self._reader: PdfReader | None = None
        self._pages: dict[int, list[TextRun]] = {}

    def _open(self) -> PdfReader:
        if self._reader is None:
            try:
                self._reader = PdfReader(io.BytesIO(self._pdf))
            except Exception as exc:  # pypdf raises many types on broken input
                raise InvalidPdf("its text could not be read") from exc
        return self._reader

    def __call__(self, page: int) -> list[TextRun]:
        if page not in self._pages:
            self._pages[page] = self._extract(page)
        return self._pages[page]

    def _extract(self, page: int) -> list[TextRun]:
        runs: list[TextRun] = []

        def visit(text: Any, cm: Any, tm: Any, font: Any, font_size: Any) -> None:
            if not text:
                return
            matrix = _multiply([float(v) for v in tm], [float(v) for v in cm])
            scale = math.hypot(matrix[0], matrix[1])
            runs.append(TextRun(str(text), matrix[4], matrix[5], float(font_size) * scale))

        try:
            self._open().pages[page].extract_text(visitor_text=visit)
        except InvalidPdf:
            raise
        except Exception as exc:
            log.warning("text of page %d could not be extracted: %s", page, exc)
            return []
        return runs
