"""QR codes read back by a real decoder (zxing-cpp): rendered at several sizes and degraded as
a phone photo degrades them (rotated, blurred, JPEG-compressed, shrunk), decoded and then
verified; and files that hold no code are refused with a clear error."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from certs.demo_types import BUSINESS_LICENCE
from certs.qr_symbol import make_qr, qr_png
from tests.certs.conftest import (
    ADMIN,
    BUSINESS_FIELDS,
    COMPANY_USCC,
    ISSUER,
    ISSUER_NAME,
    issue_business,
)
from tests.verify.conftest import Scene
from verify.payload import QrKind
from verify.qr_image import QrImageError, decode_image, read_qr_texts
from verify.verdict import Verdict


@pytest.fixture
def backend() -> str:
    """Images do not depend on the storage backend: the embedded one is enough."""
    return "embedded"


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue()))


def _photo(image: Image.Image, module: int) -> Image.Image:
    """Rotated a little, blurred (a third of a module), shrunk and saved as a low-quality
    JPEG."""
    tilted = image.convert("L").rotate(9, expand=True, fillcolor=255)
    blurred = tilted.filter(ImageFilter.GaussianBlur(module / 3))
    small = blurred.resize((int(blurred.width * 0.8), int(blurred.height * 0.8)))
    return _jpeg(small, 35)


DEGRADATIONS: dict[str, Callable[[Image.Image, int], Image.Image]] = {
    "clean": lambda image, module: image,
    "rotated-90": lambda image, module: image.rotate(90, expand=True),
    "rotated-15": lambda image, module: image.convert("L").rotate(15, expand=True, fillcolor=255),
    "blurred": lambda image, module: image.convert("L").filter(
        ImageFilter.GaussianBlur(module / 2.5)
    ),
    "jpeg-q20": lambda image, module: _jpeg(image, 20),
    "photo": _photo,
}


@pytest.mark.parametrize("scale", [3, 4, 8])
@pytest.mark.parametrize("degradation", list(DEGRADATIONS))
def test_rendered_and_degraded_codes_decode_and_verify(
    scene: Scene, scale: int, degradation: str
) -> None:
    text = scene.qr(issue_business(scene.licences), QrKind.ELECTRONIC)
    image = Image.open(io.BytesIO(qr_png(text, scale=scale)))
    degraded = DEGRADATIONS[degradation](image, scale)
    assert decode_image(degraded) == [text]
    assert scene.online(text).verdict is Verdict.VALID


def test_the_symbol_is_alphanumeric_level_m(scene: Scene) -> None:
    _, text = scene.print_qr(issue_business(scene.licences))
    symbol = make_qr(text)
    assert (symbol.mode, symbol.error) == ("alphanumeric", "M")
    assert symbol.version <= 15


def test_files_with_codes_are_read(tmp_path: Path, scene: Scene) -> None:
    text = scene.qr(issue_business(scene.licences))
    png = tmp_path / "scan.png"
    png.write_bytes(qr_png(text))
    jpeg = tmp_path / "photo.jpg"
    _photo(Image.open(png), 4).save(jpeg, "JPEG")
    pdf = tmp_path / "licence.pdf"
    Image.open(png).convert("RGB").save(pdf, "PDF", resolution=150)
    for path in (png, jpeg, pdf):
        assert read_qr_texts(path) == [text], path.name


def test_files_without_a_code_are_refused(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.new("L", (400, 400), 255).save(blank)
    noise = tmp_path / "notes.png"
    Image.effect_noise((300, 300), 80).save(noise)
    not_an_image = tmp_path / "letter.jpg"
    not_an_image.write_text("dear sir")
    empty_pdf = tmp_path / "empty.pdf"
    Image.new("RGB", (200, 200), "white").save(empty_pdf, "PDF")
    for path, message in [
        (blank, "no QR code"),
        (noise, "no QR code"),
        (not_an_image, "not an image or PDF"),
        (empty_pdf, "no QR code"),
    ]:
        with pytest.raises(QrImageError, match=message):
            read_qr_texts(path)


def test_a_very_long_holder_name_is_shortened_to_keep_the_symbol_small(scene: Scene) -> None:
    name = "国家电网有限公司吉林省电力有限公司长春供电公司城区分公司第一营业厅"  # 33 characters
    licence = scene.licences.issue(
        BUSINESS_LICENCE,
        ISSUER,
        ISSUER_NAME,
        name,
        COMPANY_USCC,
        {**BUSINESS_FIELDS, "name": name},
        date(2026, 11, 27),
        ADMIN,
    )
    _, text = scene.print_qr(licence)
    assert make_qr(text).version <= 15
    shown = scene.online(text).licence
    assert shown is not None
    assert shown.holder_name == name[:11] + "…" + name[-12:]
