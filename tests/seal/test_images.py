"""seal.images: seal images drawn per GA 241-2000, and uploaded seal images checked.

Every kind is rendered once at 300 dpi and saved under ``tests/seal/out/`` (gitignored) for
a person to look at; the assertions check what can be measured: size, transparency, colour,
the ring where GA 241 puts it, the star in the centre, the name on the upper arc.
"""

from __future__ import annotations

import io
import math
import random
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from seal import images
from seal.image_layout import round_layout, square_layout
from seal.images import (
    InvalidSealDesign,
    InvalidSealImage,
    SealDesign,
    SealFontMissing,
    check_uploaded_seal,
    render_seal,
)

OUT = Path(__file__).parent / "out"
DPI = 300
ORG = "福州示例科技有限公司"
USCC = "91350100M000100Y43"

DESIGNS: dict[str, SealDesign] = {
    "official": SealDesign("official", "福州市鼓楼区人民政府办公室", code=USCC),
    "approval": SealDesign("approval", ORG),
    "contract": SealDesign("contract", ORG, code=USCC, diameter_mm=40),
    "finance": SealDesign("finance", ORG),
    "invoice": SealDesign("invoice", ORG, code=USCC),
    "name": SealDesign("name", ORG, person_name="张三丰"),
}


def px(mm: float) -> float:
    return mm * DPI / 25.4


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()
    return image


def is_red(pixel: tuple[int, ...]) -> bool:
    return pixel[0] > 150 and pixel[1] < 80 and pixel[2] < 80


def rgba(image: Image.Image, x: float, y: float) -> tuple[int, int, int, int]:
    value = image.getpixel((round(x), round(y)))
    assert isinstance(value, tuple) and len(value) == 4
    return (value[0], value[1], value[2], value[3])


def red_pixels(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    pixels = image.crop(box).get_flattened_data()
    return sum(1 for p in pixels if isinstance(p, tuple) and p[3] >= 128 and is_red(p))


@pytest.fixture(scope="module")
def rendered() -> dict[str, bytes]:
    out = {kind: render_seal(design, dpi=DPI) for kind, design in DESIGNS.items()}
    OUT.mkdir(exist_ok=True)
    for kind, png in out.items():
        (OUT / f"{kind}.png").write_bytes(png)
    return out


@pytest.mark.parametrize("kind", list(DESIGNS))
def test_every_kind_renders_a_transparent_red_png_of_the_right_size(
    rendered: dict[str, bytes], kind: str
) -> None:
    design = DESIGNS[kind]
    image = decode(rendered[kind])
    assert image.mode == "RGBA"
    width = px(design.size_mm)
    height = width * (0.75 if kind == "invoice" else 1.0)
    assert abs(image.width - width) <= 2 and abs(image.height - height) <= 2
    w, h = image.size
    for x, y in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)):
        assert rgba(image, x, y)[3] == 0
    visible = [p for p in image.get_flattened_data() if isinstance(p, tuple) and p[3] > 0]
    assert len(visible) > 0.05 * w * h
    assert all(is_red(p) for p in visible), "every visible pixel is red"
    assert image.info.get("dpi") is not None and round(image.info["dpi"][0]) == DPI


@pytest.mark.parametrize("kind", ["official", "approval", "contract", "finance"])
def test_round_seals_have_the_ring_and_the_star_where_ga_241_puts_them(
    rendered: dict[str, bytes], kind: str
) -> None:
    design = DESIGNS[kind]
    image = decode(rendered[kind])
    c = image.width / 2
    scale = design.size_mm / 42
    ring = px(design.size_mm / 2 - 0.1 * scale - 0.6 * scale)  # middle of the 1.2 mm ring
    for degrees in range(0, 360, 10):
        a = math.radians(degrees)
        pixel = rgba(image, c + ring * math.sin(a) - 0.5, c - ring * math.cos(a) - 0.5)
        assert pixel[3] >= 250 and is_red(pixel), degrees
    # a five-pointed star 14 mm across: solid centre and points, empty between the points
    star = px(7 * scale)
    assert rgba(image, c, c)[3] == 255
    for k in range(5):
        a = math.radians(72 * k)
        point = rgba(image, c + 0.8 * star * math.sin(a), c - 0.8 * star * math.cos(a))
        assert point[3] == 255 and is_red(point)
        between = rgba(
            image, c + 0.8 * star * math.sin(a + 0.63), c - 0.8 * star * math.cos(a + 0.63)
        )
        assert between[3] == 0


def test_the_organisation_name_occupies_the_upper_arc() -> None:
    image = decode(render_seal(SealDesign("official", ORG), dpi=DPI))
    w, h = image.size
    band = round(0.3 * h)
    upper = red_pixels(image, (0, 0, w, band))
    lower = red_pixels(image, (0, h - band, w, h))
    assert upper > 1.5 * lower


def test_the_title_is_below_the_star_and_the_code_along_the_lower_arc() -> None:
    bare = decode(render_seal(SealDesign("official", ORG), dpi=DPI))
    titled = decode(render_seal(SealDesign("official", ORG, title="合同专用章"), dpi=DPI))
    coded = decode(render_seal(SealDesign("official", ORG, code=USCC), dpi=DPI))
    w = bare.width
    below_star = (round(0.3 * w), round(0.66 * w), round(0.7 * w), round(0.78 * w))
    assert red_pixels(titled, below_star) > red_pixels(bare, below_star) + 500
    bottom = (round(0.3 * w), round(0.85 * w), round(0.7 * w), round(0.95 * w))
    assert red_pixels(coded, bottom) > red_pixels(bare, bottom) + 300


def test_arc_glyphs_read_clockwise_and_stand_upright_on_the_ring() -> None:
    layout = round_layout(ORG, None, USCC, 42)
    upper = [g for g in layout.glyphs if not g.char.isascii()]
    lower = [g for g in layout.glyphs if g.char.isascii()]
    assert "".join(g.char for g in upper) == ORG
    rotations = [g.rotation for g in upper]
    assert rotations == sorted(rotations)  # clockwise, left to right over the top
    assert rotations[0] == pytest.approx(-rotations[-1]) and 100 <= rotations[-1] <= 125
    for glyph in upper:  # each glyph's top points away from the centre
        a = math.radians(glyph.rotation)
        assert glyph.x - 21 == pytest.approx(math.hypot(glyph.x - 21, glyph.y - 21) * math.sin(a))
    assert "".join(g.char for g in lower) == USCC
    assert [g.x for g in lower] == sorted(g.x for g in lower)  # left to right
    assert all(g.y > 21 for g in lower)


def test_rendering_is_deterministic() -> None:
    for design in DESIGNS.values():
        assert render_seal(design) == render_seal(design)
    assert render_seal(SealDesign("finance", ORG)) != render_seal(SealDesign("finance", "某某局"))


def test_the_invoice_seal_is_an_ellipse_wider_than_tall(rendered: dict[str, bytes]) -> None:
    image = decode(rendered["invoice"])
    assert image.width > image.height
    assert image.width / image.height == pytest.approx(40 / 30, abs=0.01)
    w, h = image.size
    for x, y in ((px(0.6), h / 2), (w - px(0.6), h / 2), (w / 2, px(0.6)), (w / 2, h - px(0.6))):
        assert rgba(image, x - 0.5, y - 0.5)[3] >= 250
    assert red_pixels(image, (round(0.25 * w), round(0.45 * h), round(0.75 * w), round(0.55 * h)))


def test_the_name_seal_is_square_read_right_to_left(rendered: dict[str, bytes]) -> None:
    image = decode(rendered["name"])
    assert image.width == image.height
    side = image.width
    for x, y in ((side / 2, px(0.75)), (px(0.75), side / 2), (side - px(0.75), side / 2)):
        assert rgba(image, x - 0.5, y - 0.5)[3] >= 250
    four = square_layout("张三丰", 20).glyphs
    assert [g.char for g in four] == ["张", "三", "丰", "印"]
    (a, b, c, d) = four
    assert a.x == b.x > c.x == d.x and a.y == c.y < b.y == d.y  # right column first
    two = square_layout("王五", 20).glyphs
    assert two[0].char == "王" and two[0].x > two[1].x and two[0].y == two[1].y


@pytest.mark.parametrize(
    "kwargs",
    [
        {"organisation": ""},
        {"organisation": "某" * 41},
        {"organisation": "福州\n示例"},
        {"organisation": "福州\u200b示例"},
        {"organisation": "   "},
        {"title": "专" * 13},
        {"title": "审批\x00专用章"},
        {"code": "91350100m000100y43"},
        {"code": "9" * 21},
        {"person_name": "张三"},
        {"diameter_mm": 5.0},
        {"diameter_mm": float("nan")},
        {"colour": (0, 0, 220)},
        {"kind": "round"},
    ],
)
def test_invalid_designs_are_refused(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"kind": "official", "organisation": ORG, **kwargs}
    with pytest.raises(InvalidSealDesign) as caught:
        SealDesign(**fields)  # type: ignore[arg-type]
    assert caught.value.problem.status == 422
    assert "福州" not in str(caught.value)  # names are not repeated in errors


@pytest.mark.parametrize("name", [None, "张", "欧阳明月华", "张 三"])
def test_a_name_seal_needs_a_name_of_two_to_four_characters(name: str | None) -> None:
    with pytest.raises(InvalidSealDesign):
        SealDesign("name", ORG, person_name=name)


def test_a_bad_dpi_is_refused() -> None:
    for dpi in (0, 50, 5000):
        with pytest.raises(InvalidSealDesign):
            render_seal(DESIGNS["approval"], dpi=dpi)


def test_a_missing_font_is_reported_with_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    design = DESIGNS["approval"]
    with pytest.raises(SealFontMissing, match="fonts-wqy-microhei"):
        render_seal(design, font_path=str(tmp_path / "none.ttc"))
    not_a_font = tmp_path / "font.ttc"
    not_a_font.write_bytes(b"not a font")
    with pytest.raises(SealFontMissing, match="fonts-wqy-microhei"):
        render_seal(design, font_path=str(not_a_font))
    monkeypatch.setattr(images, "FONT_SEARCH_PATHS", (str(tmp_path / "none.ttc"),))
    with pytest.raises(SealFontMissing, match="fonts-wqy-microhei"):
        render_seal(design)


def png(image: Image.Image, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", **params)
    return out.getvalue()


def test_a_good_upload_is_re_encoded_without_its_metadata(rendered: dict[str, bytes]) -> None:
    seal = decode(rendered["approval"])
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "someone")
    info.add_itxt("Comment", "盖章", zip=True)
    upload = png(seal, pnginfo=info)
    assert b"tEXt" in upload and b"iTXt" in upload
    clean = check_uploaded_seal(upload)
    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"tIME", b"eXIf", b"iCCP"):
        assert chunk not in clean
    again = decode(clean)
    assert again.mode == "RGBA" and again.size == seal.size and "Author" not in again.info
    assert again.getchannel("A").tobytes() == seal.getchannel("A").tobytes()


@pytest.mark.parametrize("kind", list(DESIGNS))
def test_rendered_seals_pass_the_upload_check(rendered: dict[str, bytes], kind: str) -> None:
    assert check_uploaded_seal(rendered[kind]).startswith(b"\x89PNG")


def refused(data: bytes) -> str:
    with pytest.raises(InvalidSealImage) as caught:
        check_uploaded_seal(data)
    assert caught.value.problem.status == 422
    return caught.value.reason


def test_uploads_that_are_not_transparent_red_png_seals_are_refused(
    rendered: dict[str, bytes],
) -> None:
    seal = decode(rendered["approval"])
    on_white = Image.new("RGBA", seal.size, (255, 255, 255, 255))
    on_white.alpha_composite(seal)
    jpeg = io.BytesIO()
    on_white.convert("RGB").save(jpeg, format="JPEG")
    assert refused(jpeg.getvalue()) == "not-png"
    assert refused(png(on_white)) == "background"
    assert refused(png(on_white.convert("RGB"))) == "no-alpha"
    assert refused(png(seal.resize((50, 50)))) == "dimensions"
    assert refused(png(seal.resize((2100, 2100)))) == "dimensions"
    noise = Image.frombytes("RGBA", (1000, 1000), random.Random(0).randbytes(4_000_000))
    big = png(noise)
    assert len(big) > 3_000_000
    assert refused(big) == "too-large"
    red, green, blue_, alpha = seal.split()
    blue = Image.merge("RGBA", (blue_, green, red, alpha))
    assert refused(png(blue)) == "colour"
    assert refused(png(Image.new("RGBA", (200, 200), (0, 0, 0, 0)))) == "empty"
    assert refused(rendered["approval"][:200]) == "not-png"
    assert refused(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100) == "not-png"
