"""Document attacks that tests/seal/test_validation.py does not already show: a signature
lifted from one sealed document into another, and a seal image with no signature behind it.
Each is reported for what it is (seal.validation). The others (bytes changed, incremental
update after signing, revoked seal, expired seal) are referenced in README.md."""

from __future__ import annotations

import io
import re

from PIL import Image, ImageDraw
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from seal.validation import NO_SIGNATURE
from tests.seal.test_validation import (
    Pki,
    Sign,
    indication,
    one_page_pdf,
    only,
    pki,
    sign,
    validate,
)

__all__ = ["pki", "sign"]  # fixtures used below

CONTENTS = re.compile(rb"/Contents\s*<([0-9a-fA-F]+)>")


def test_a_signature_moved_to_another_document_is_a_hash_failure(pki: Pki, sign: Sign) -> None:
    """The CMS signature of a genuine sealed document pasted into another document (same
    placeholder, same byte range): the seal no longer covers what is shown."""
    genuine = sign(one_page_pdf())
    other = sign(one_page_pdf().replace(b"(Licence 0042)", b"(Licence 9999)"))
    lifted = CONTENTS.search(genuine)
    target = CONTENTS.search(other)
    assert lifted and target
    if len(lifted.group(1)) > len(target.group(1)):  # DER signatures differ by a byte or two
        genuine, other, lifted, target = other, genuine, target, lifted
    padded = lifted.group(1).ljust(len(target.group(1)), b"0")  # as the placeholder is
    moved = other[: target.start(1)] + padded + other[target.end(1) :]
    assert indication(only(validate(genuine, pki))) == ("TOTAL-PASSED", None)
    signature = only(validate(moved, pki))
    assert indication(signature) == ("TOTAL-FAILED", "HASH_FAILURE")
    assert not signature.integrity


def _seal_picture_pdf() -> bytes:
    """A page that shows a red seal, drawn, scanned or copied: no signature anywhere."""
    picture = Image.new("RGB", (200, 200), "white")
    draw = ImageDraw.Draw(picture)
    draw.ellipse((4, 4, 196, 196), outline=(220, 20, 30), width=12)
    draw.ellipse((80, 80, 120, 120), fill=(220, 20, 30))
    writer = PdfFileWriter()
    image = PdfImage(picture, writer=writer).image_ref
    content = generic.StreamObject(stream_data=b"q 150 0 0 150 300 150 cm /Im1 Do Q")
    resources = generic.DictionaryObject(
        {pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/Im1"): image})}
    )
    writer.insert_page(
        PageObject(writer.add_object(content), media_box=[0, 0, 595, 842], resources=resources)
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_seal_image_without_a_signature_is_no_seal(pki: Pki) -> None:
    report = validate(_seal_picture_pdf(), pki)
    assert report.signatures == ()
    assert indication(report) == ("INDETERMINATE", NO_SIGNATURE)
