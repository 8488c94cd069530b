"""The ``Content-Disposition`` of a download: a file name any client can save under.

HTTP header values are sent as Latin-1 bytes, so a name outside ASCII (a licence number such
as 闽导字第0001号, an uploaded file's Chinese name) cannot go into ``filename=`` as it is.
The header carries an ASCII ``filename=`` for old clients and the name itself in
``filename*=UTF-8''...`` (RFC 6266 §4.3, RFC 8187 §3.2), which clients that know it prefer.
"""

from __future__ import annotations

import re
from urllib.parse import quote

# RFC 8187 attr-char: what goes into ext-value unencoded (ALPHA and DIGIT too)
_ATTR_CHARS = "!#$&+-.^_`|~"
# what may stay in the quoted ASCII fallback: printable ASCII but '"', '\' and '%'
# (RFC 6266 §4.3: a '%' there may be decoded by some clients, a '\' taken as an escape)
_NOT_IN_FALLBACK = re.compile(r'[^\x20-\x7e]+|["\\%]+')


def attachment(filename: str) -> str:
    """``attachment`` with ``filename`` (any Unicode): the ASCII fallback in ``filename=``
    (each run of other characters one ``_``) and, when that is not the name itself, the
    name in ``filename*``."""
    fallback = _NOT_IN_FALLBACK.sub("_", filename)
    header = f'attachment; filename="{fallback}"'
    if fallback != filename:
        encoded = quote(filename, safe=_ATTR_CHARS, errors="replace")
        header += f"; filename*=UTF-8''{encoded}"
    return header
