"""Authlib's request objects over what the routers read from Starlette.

The URI handed to Authlib is built from the issuer and the path, not from the socket, so
that a TLS-terminating proxy in front of the service does not make requests look insecure.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    form: dict[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # case-insensitive in use


def unreadable_basic_credentials(headers: Mapping[str, str]) -> bool:
    """Whether ``Authorization`` is HTTP Basic (RFC 7617 §2) whose credentials are not
    base64 of UTF-8 text. Authlib's reader raises on those (a value that is not ASCII, bytes
    that are not UTF-8) instead of failing the client's authentication, so the endpoints
    answer ``invalid_client`` before it reads them."""
    header = headers.get("authorization")
    if not header or " " not in header:
        return False
    scheme, credentials = header.split(None, 1)
    if scheme.lower() != "basic":
        return False
    try:
        base64.b64decode(credentials).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return True
    return False


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._data = dict(pairs)
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, request: HttpRequest) -> None:
        super().__init__(method=request.method, uri=request.url, headers=request.headers)
        query = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
        self._args = dict(query)
        self._form = dict(request.form)
        self.payload = _Payload(query + list(request.form.items()))

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form
