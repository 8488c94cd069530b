"""Sealed PDFs judged by tools that share no code with the signer: poppler's ``pdfsig``
(NSS) for the signature and certificate, ``pdftoppm`` for what a reader sees, ``pdftotext``
for where the anchor text really is."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from seal.stamping import AtAnchor, AtPosition, CrossPage
from seal.stamping.engine import Level
from seal.stamping.placement import Rect
from tests.seal.conftest import A4, ANCHOR, Kit, need


def pdfsig(pdfsig_nss_db: str, pdf: bytes, tmp_path: Path) -> str:
    """pdfsig's report (it exits 0 whatever it finds: read stdout)."""
    path = tmp_path / "checked.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        [need("pdfsig"), "-nssdir", pdfsig_nss_db, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout


def render(pdf: bytes, page: int, tmp_path: Path) -> Image.Image:
    """Page ``page`` (0-based) at 72 dpi: one pixel per point, y from the top."""
    path = tmp_path / "render.pdf"
    path.write_bytes(pdf)
    number = str(page + 1)
    out = subprocess.run(
        [need("pdftoppm"), "-png", "-r", "72", "-f", number, "-l", number, str(path)],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    return Image.open(io.BytesIO(out)).convert("RGB")


def red_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box (left, top, right, bottom) of the seal-red pixels."""
    red, green, blue = image.split()
    mask = ImageChops.multiply(
        red.point(lambda v: 255 if v > 150 else 0),
        ImageChops.multiply(
            green.point(lambda v: 255 if v < 110 else 0),
            blue.point(lambda v: 255 if v < 110 else 0),
        ),
    )
    return mask.getbbox()


def assert_red_only_inside(image: Image.Image, rect: Rect, slack: float = 2.0) -> None:
    box = red_box(image)
    assert box is not None, "no seal pixels on the page"
    left, top, right, bottom = box
    height = image.height
    assert left >= rect.x1 - slack and right <= rect.x2 + slack
    assert top >= height - rect.y2 - slack and bottom <= height - rect.y1 + slack
    # the seal fills its box (the ring touches all four sides), it is not a speck
    assert right - left >= rect.width * 0.8 and bottom - top >= rect.height * 0.8


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT"])
def test_pdfsig_valid_and_trusted(
    kit: Kit, level: Level, pdfsig_nss_db: str, tmp_path: Path
) -> None:
    report = pdfsig(pdfsig_nss_db, kit.seal(level), tmp_path)
    assert "Signature Type: ETSI.CAdES.detached" in report
    assert "Signature is Valid." in report
    assert "Certificate is Trusted." in report
    # B-LT adds the DSS after the signature: pdfsig then says so, correctly.
    assert ("Not total document signed" in report) == (level == "B-LT")


def test_pdfsig_digest_mismatch_after_tampering(
    kit: Kit, pdfsig_nss_db: str, tmp_path: Path
) -> None:
    sealed = bytearray(kit.seal())
    sealed[sealed.index(b"/MediaBox") + 2] ^= 0x01  # inside the first signed range
    report = pdfsig(pdfsig_nss_db, bytes(sealed), tmp_path)
    assert "Signature is Valid." not in report
    assert "Digest Mismatch." in report


def test_pdfsig_untrusted_without_the_root(kit: Kit, tmp_path: Path) -> None:
    empty = tmp_path / "empty-nss"
    empty.mkdir()
    subprocess.run(
        [need("certutil"), "-N", "-d", f"sql:{empty}", "--empty-password"], check=True, timeout=60
    )
    report = pdfsig(f"sql:{empty}", kit.seal(), tmp_path)
    assert "Signature is Valid." in report
    assert "Certificate is Trusted." not in report


@pytest.mark.parametrize(
    "placement",
    [AtPosition(0, 60, 500, 150), AtPosition(0, 400, 40, 100)],
    ids=["upper-left", "lower-right"],
)
def test_rendered_seal_at_position(kit: Kit, placement: AtPosition, tmp_path: Path) -> None:
    sealed = kit.seal(placement=placement)
    size = placement.size
    rect = Rect(placement.x, placement.y, placement.x + size, placement.y + size)
    assert_red_only_inside(render(sealed, 0, tmp_path), rect)


def anchor_centre(pdf: bytes, tmp_path: Path) -> tuple[float, float]:
    """Where poppler's own text layout puts "（盖章）" (y up, PDF points)."""
    path = tmp_path / "anchor.pdf"
    path.write_bytes(pdf)
    html = subprocess.run(
        [need("pdftotext"), "-bbox", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    for match in re.finditer(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
        html,
    ):
        x1, y1, x2, y2 = (float(v) for v in match.groups()[:4])
        word = match.group(5)
        if ANCHOR in word:
            share = (word.index(ANCHOR) + len(ANCHOR) / 2) / len(word)  # full-width glyphs
            return x1 + (x2 - x1) * share, A4[1] - (y1 + y2) / 2
    raise AssertionError("pdftotext did not find the anchor")


def test_rendered_seal_on_anchor(kit: Kit, tmp_path: Path) -> None:
    sealed = kit.seal(placement=AtAnchor(ANCHOR, size=100))
    box = red_box(render(sealed, 0, tmp_path))
    assert box is not None
    left, top, right, bottom = box
    cx, cy = anchor_centre(kit.one_page, tmp_path)
    assert abs((left + right) / 2 - cx) <= 8
    assert abs(A4[1] - (top + bottom) / 2 - cy) <= 8
    assert 90 <= right - left <= 102 and 90 <= bottom - top <= 102


def test_rendered_cross_page_seal(kit: Kit, tmp_path: Path) -> None:
    sealed = kit.seal(placement=CrossPage(size=120), pdf=kit.three_page)
    width, height = A4
    for page in range(3):
        slice_rect = Rect(width - 40, height / 2 - 60, width, height / 2 + 60)
        image = render(sealed, page, tmp_path)
        box = red_box(image)
        assert box is not None, f"no slice on page {page}"
        left, top, right, bottom = box
        assert left >= slice_rect.x1 - 2 and right <= width
        assert top >= height - slice_rect.y2 - 2 and bottom <= height - slice_rect.y1 + 2
        assert bottom - top >= 100  # a slice of the ring spans (nearly) the seal's height
