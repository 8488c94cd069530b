"""A token or introspection request as the hot path reads it: strictly, or not at all.

The form (RFC 6749 Appendix B) is parsed with :func:`urllib.parse.parse_qsl` in strict mode;
whatever it and Starlette's parser could read differently (a field without ``=``, bytes that
are not ASCII, invalid UTF-8 after percent-decoding, a repeated parameter or header, too many
fields) makes :func:`hot_request` return None, and the general path reads the request
itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 16
# headers the hot path reads; each must come at most once
HEADERS = frozenset({"authorization", "content-type", "dpop"})


@dataclass(frozen=True)
class HotRequest:
    headers: Mapping[str, str]  # lower-case names; only those in HEADERS
    form: Mapping[str, str]


def hot_request(raw_headers: Iterable[tuple[bytes, bytes]], body: bytes) -> HotRequest | None:
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        if name in HEADERS:
            if name in headers:
                return None
            headers[name] = raw_value.decode("latin-1")
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        return None
    try:
        fields = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError:  # UnicodeDecodeError is one
        return None
    form = dict(fields)
    if len(form) != len(fields):
        return None
    return HotRequest(headers, form)
