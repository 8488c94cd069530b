"""Drawing the QR symbol of a licence (segno): error correction level M (15 % of the symbol may
be damaged), no boost, so that the upper-case verification URL stays in the alphanumeric
mode and a printed code stays at version 15 or below (``verify/FORMAT.md`` records the
measured versions). What the symbol holds is :mod:`verify`'s business."""

from __future__ import annotations

import io

import segno

ERROR_LEVEL = "m"
MAX_PRINTED_VERSION = 15


def make_qr(text: str) -> segno.QRCode:
    return segno.make_qr(text, error=ERROR_LEVEL, boost_error=False)


def qr_png(text: str, scale: int = 4, border: int = 4) -> bytes:
    out = io.BytesIO()
    make_qr(text).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()
