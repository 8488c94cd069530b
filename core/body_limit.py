"""A ceiling on every request body, applied before anything reads it (RFC 9110 §15.5.14:
413 Content Too Large).

The endpoints that take documents check a document's size once they have it, but by then
the framework has received the whole body (a file part spooled to disk), so an anonymous
upload of any size reached the disk first. Here a body is refused as it arrives: at once
when its ``Content-Length`` is over the path's limit, and, for a body sent in chunks
without one, as soon as the bytes received pass it (the application is then told the
client left, and whatever it would have answered is replaced by the 413). A body within
its declared length is passed through untouched: the HTTP parser does not deliver more
than ``Content-Length``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.route_path import route_path

DEFAULT_LIMIT = 8 * 1024 * 1024
"""Any body not named otherwise: forms, JSON (a seal image in base64), a CSV import."""

DETAIL = "the request body is larger than this endpoint accepts"
PROBLEM = (
    b"application/problem+json",
    json.dumps(
        {"type": "about:blank", "title": "Content Too Large", "status": 413, "detail": DETAIL}
    ).encode(),
)
OAUTH_ERROR = (  # on the OAuth endpoints, their own error JSON (RFC 6749 §5.2)
    b"application/json",
    json.dumps({"error": "invalid_request", "error_description": DETAIL}).encode(),
)


class RequestBodyLimit:
    """``limits``: (a regular expression matched against the whole path, the most bytes a
    body may have there), the first match deciding; others get ``default``. The paths in
    ``oauth_paths`` are answered in OAuth error JSON, the others in problem+json."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Sequence[tuple[str, int]] = (),
        *,
        default: int = DEFAULT_LIMIT,
        headers: Sequence[tuple[bytes, bytes]] = (),
        oauth_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.oauth_paths = oauth_paths
        self.limits = [(re.compile(pattern), most) for pattern, most in limits]
        self.default = default
        self.headers = list(headers)

    def limit(self, path: str) -> int:
        return next((most for p, most in self.limits if p.fullmatch(path)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        limit = self.limit(path)
        declared = _content_length(scope)
        if declared is not None:
            if declared > limit:
                await self._refuse(path, send)
            else:
                await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        exceeded = started = False

        async def counting() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the answer to a body cut short: the 413 replaces it
            started = True
            await send(message)

        try:
            await self.app(scope, counting, sending)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(route_path(scope), send)

    async def _refuse(self, path: str, send: Send) -> None:
        media_type, body = OAUTH_ERROR if path in self.oauth_paths else PROBLEM
        headers = [
            (b"content-type", media_type),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),  # the rest of the body is not read
            *self.headers,
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
