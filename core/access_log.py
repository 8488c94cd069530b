"""The access log: one JSON line per HTTP request, written by the service itself.

:func:`core.log.configure_logging` turns uvicorn's access logger off, and the app of each
worker (``core.app.app_from_environment``) puts :class:`AccessLog` in front of everything
instead (the OAuth hot path and FastAPI's middleware included), so every request is
written once, with what an operator or an auditor reads an access log
for: the method, the path, the status, how long the answer took and who asked.

What it leaves out, and why:

* the query string. ``/authorize``'s carries ``state``, ``nonce``, the PKCE challenge and
  login hints, and a query string is where a mistaken client puts a bearer token; web
  server logs are where such values leak from (RFC 6750 §5.3, the OWASP Logging Cheat
  Sheet's "data to exclude").
* an ID number in the path: the path is masked as every log line's message is
  (:func:`core.identifiers.resident_id.redact_resident_ids`).

The line has the four fields of :class:`core.log.JsonFormatter`'s lines (time, level,
logger, message) and then its own. It is built here and handed to a :class:`LineSink`
(:class:`core.log.JsonLinesHandler`, which writes such lines in batches), not sent through
``logging``: a record, its handler chain and the formatter cost a busy token endpoint
about a tenth of its CPU per request (``bench/PROFILE.md``, seventh pass).
"""

from __future__ import annotations

import time
from json.encoder import encode_basestring
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.identifiers.resident_id import redact_resident_ids
from core.log import ACCESS_LOGGER, utc_time


class LineSink(Protocol):
    def write_line(self, line: str) -> None:
        """Write one line (a JSON object, without its newline)."""

    def flush(self) -> None:
        """Write what waits (at shutdown)."""


def access_line(
    method: str,
    path: str,
    status: int | None,
    seconds: float,
    client: tuple[str, int] | None,
    at: float,
) -> str:
    """One request's line. ``status`` None: no answer was started (the client left);
    ``at``: when the answer ended, in seconds since the epoch."""
    path = redact_resident_ids(path)
    # the JSON object a json.JSONEncoder writes for these fields, in this order, with the
    # separators of the other lines; built by hand, it costs half as much per request
    message = f"{method} {path} {'-' if status is None else status}"
    return _LINE % (
        utc_time(at),  # digits, "-", ":", "." and "+" only
        _string(message),
        _string(method),
        _string(path),
        "null" if status is None else int(status),
        round(seconds * 1000, 3),  # a float's repr is a JSON number (never inf or nan here)
        _string(client[0]) if client else "null",
    )


_LINE = (
    '{"time": "%s", "level": "INFO", "logger": "' + ACCESS_LOGGER + '", "message": %s, '
    '"method": %s, "path": %s, "status": %s, "duration_ms": %r, "client": %s}'
)
_string = encode_basestring  # a JSON string, quotes and escapes included, not ASCII-only


class AccessLog:
    """ASGI middleware writing :func:`access_line` once each HTTP request has ended."""

    def __init__(self, app: ASGIApp, sink: LineSink) -> None:
        self.app = app
        self.write = sink.write_line

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except Exception:
            # the server answers 500 to an exception escaping before the answer started
            status = 500 if status is None else status
            raise
        finally:
            ended = time.time()
            self.write(
                access_line(
                    scope["method"],
                    scope["path"],
                    status,
                    time.perf_counter() - started,
                    scope.get("client"),
                    ended,
                )
            )
