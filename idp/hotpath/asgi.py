"""Where the hot path sits: an ASGI wrapper in front of the whole application.

For ``POST /token`` (client credentials and refresh) and ``POST /introspect`` it reads
the body (at most :data:`MAX_BODY` bytes), lets the hot path try, and sends its answer;
when the hot path declines (None) or fails, the request goes on to the application with its
body replayed, so the general path answers exactly as without this wrapper. ``core.app``
puts it in front of FastAPI's own middleware stack, which costs a hot request more than its
own work (``bench/PROFILE.md``); an answer from here therefore carries the headers the
application's middleware would have added (``headers``) and is counted by the same
metrics (``note``), with the route's own label.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.db.batching import BatchRunnerClosed
from core.route_path import route_path
from idp.hotpath.client_auth import ClientLoader
from idp.hotpath.client_credentials import GRANT_TYPE as CLIENT_CREDENTIALS
from idp.hotpath.client_credentials import client_credentials_token
from idp.hotpath.form import HotRequest, hot_request
from idp.hotpath.introspection import introspect
from idp.hotpath.key_loader import KeyLoader
from idp.hotpath.refresh import GRANT_TYPE as REFRESH_TOKEN
from idp.hotpath.refresh import refresh_token
from idp.hotpath.signatures import VerifiedTokens
from idp.provider import Provider

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
RESPONSE_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),  # RFC 6749 §5.1
    (b"pragma", b"no-cache"),
]

Handler = Callable[[HotRequest], Awaitable[dict[str, Any] | None]]
# (method, route, status, seconds) of an answered request: core.metrics.HttpMetrics.note
Note = Callable[[str, str, int, float], None]


class OAuthHotPath:
    def __init__(
        self,
        app: ASGIApp,
        provider: Provider,
        *,
        headers: Sequence[tuple[bytes, bytes]] = (),
        note: Note | None = None,
    ) -> None:
        self.app = app
        clients = ClientLoader(provider.server)
        keys = KeyLoader(provider.ctx.keys)
        grants: dict[str, Handler] = {
            CLIENT_CREDENTIALS: partial(client_credentials_token, provider, clients, keys),
            REFRESH_TOKEN: partial(refresh_token, provider, clients, keys),
        }
        self.handlers: dict[str, Handler] = {
            "/token": partial(_by_grant_type, grants),
            "/introspect": partial(introspect, provider, VerifiedTokens(), clients, keys),
        }
        self.extra_headers = list(headers)
        self.note = note

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope) if scope["type"] == "http" else ""
        handler = self.handlers.get(path) if scope.get("method") == "POST" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body, complete = await _read_body(receive)
        answer = await _try(handler, scope, body) if complete else None
        if answer is None:
            await self.app(scope, _replay(body, complete, receive), send)
            return
        payload = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
        headers = [
            *RESPONSE_HEADERS,
            (b"content-length", str(len(payload)).encode()),
            *self.extra_headers,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        if self.note is not None:
            self.note("POST", path, 200, time.perf_counter() - started)


async def _by_grant_type(grants: dict[str, Handler], request: HotRequest) -> dict[str, Any] | None:
    handler = grants.get(request.form.get("grant_type", ""))
    return None if handler is None else await handler(request)


async def _try(handler: Handler, scope: Scope, body: bytes) -> dict[str, Any] | None:
    request = hot_request(scope["headers"], body)
    if request is None:
        return None
    try:
        return await handler(request)
    except (SQLAlchemyError, BatchRunnerClosed) as exc:
        # the database (or shutdown): the general path answers, 503 or otherwise
        log.debug("hot path declined: %s", exc)
    except Exception:
        log.exception("hot path failed; the general path answers")
    return None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The body, and whether it is complete (False: too large, or the client left)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > MAX_BODY:
            return b"".join(chunks), False


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """``receive`` for the routers: what was read, then whatever is still to come."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay
