"""The text in a licence QR code: a versioned prefix and base45, inside an https URL.

``GT1:`` + base45(COSE_Sign1) is the payload text (format version 1, like the EU DCC's
``HC1:``). The QR holds it as the last path segment of this service's verification URL, so
that a plain phone camera opens the verification page, with the three base45 characters that
cannot stand as they are in a URL path escaped (RFC 3986 §2.1): space as ``%20``, ``%`` as
``%25``, and ``/`` as ``%2F``, so that the payload stays one path segment and no browser or
proxy removes "dot segments" such as ``/../`` from it (§5.2.4). The
URL is upper case (``HTTPS://HOST/V/GT1:...``) so that the whole code stays in the QR
alphanumeric mode; scheme and host are case-insensitive (RFC 3986 §3.1, §3.2.2) and the
verification route is ``/V/``.
"""

from __future__ import annotations

from urllib.parse import unquote

from verify.base45 import Base45Error, b45decode, b45encode

PREFIX = "GT1:"
VERIFY_PATH = "/V/"


class QrTextError(ValueError):
    """The text is not a licence QR of a format this verifier knows."""


def verification_url_base(service_url: str) -> str:
    """``HTTPS://HOST[/PATH]/V/`` for the service at ``service_url``."""
    return service_url.rstrip("/").upper() + VERIFY_PATH


def payload_text(message: bytes) -> str:
    return PREFIX + b45encode(message)


def qr_text(message: bytes, url_base: str) -> str:
    """What the QR code holds: the verification URL with the payload text as its last segment."""
    escaped = payload_text(message).replace("%", "%25").replace(" ", "%20").replace("/", "%2F")
    return url_base + escaped


def payload_of(text: str) -> bytes:
    """The COSE message inside scanned QR text: a verification URL or the bare ``GT1:`` text.

    Raises :class:`QrTextError` naming what is wrong: not ours (wrong prefix, another
    format version) or bad base45.
    """
    candidate = text.strip()
    if candidate.lower().startswith(("https://", "http://")):
        marker = candidate.upper().find(VERIFY_PATH)
        if marker < 0:
            raise QrTextError("the URL is not a licence verification URL")
        candidate = unquote(candidate[marker + len(VERIFY_PATH) :])
    if not candidate.startswith(PREFIX):
        shown = candidate.split(":", 1)[0][:8] if ":" in candidate else candidate[:8]
        raise QrTextError(f"unknown prefix {shown!r}: not a govtrust licence QR (GT1:)")
    try:
        return b45decode(candidate[len(PREFIX) :])
    except Base45Error as exc:
        raise QrTextError(f"bad base45: {exc}") from None
