"""Reading QR codes back from photos, scans and PDFs with zxing-cpp (the decoder that read
every degraded test image down to 2.5 px a module). Drawing them is
:mod:`certs.qr_symbol`'s."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import zxingcpp
from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PdfReadError


class QrImageError(ValueError):
    """No QR code could be read from the image or document."""


def decode_image(image: Image.Image) -> list[str]:
    """The texts of the QR codes zxing-cpp finds in ``image``."""
    results = zxingcpp.read_barcodes(image.convert("L"))

    return [
        result.text
        for result in results
        if result.valid and result.format == zxingcpp.BarcodeFormat.QRCode
    ]


def _pdf_images(path: Path) -> list[Image.Image]:
    try:
        reader = PdfReader(path)
        return [picture.image for page in reader.pages for picture in page.images if picture.image]
    except (PdfReadError, ValueError, OSError):
        return []


def _rendered_pages(path: Path) -> list[Image.Image]:
    """Pages rendered by poppler's pdftoppm (when installed), for codes drawn as vectors."""
    program = shutil.which("pdftoppm")
    if program is None:
        return []
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(  # noqa: S603 (fixed program, our own arguments)
            [program, "-r", "200", "-png", str(path), f"{folder}/page"],
            check=False,
            capture_output=True,
            timeout=60,
        )
        images = []
        for page in sorted(Path(folder).glob("page*.png")):
            with Image.open(page) as image:
                images.append(image.copy())
        return images


def read_qr_texts(path: Path) -> list[str]:
    """Every QR text in a PNG/JPEG photo or scan, or in a PDF (embedded images first, then
    rendered pages). Raises :class:`QrImageError` if there is none."""
    data = path.read_bytes()
    if data.startswith(b"%PDF"):
        for images in (_pdf_images(path), _rendered_pages(path)):
            texts = [text for image in images for text in decode_image(image)]
            if texts:
                return texts
        raise QrImageError(f"no QR code found in {path.name}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            texts = decode_image(image)
    except (UnidentifiedImageError, OSError) as exc:
        raise QrImageError(f"{path.name} is not an image or PDF this verifier reads") from exc
    if not texts:
        raise QrImageError(f"no QR code found in {path.name}")
    return texts
