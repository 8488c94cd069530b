"""core/body_limit.py: a request body over its path's limit is a 413 before the
application reads it: at once when its Content-Length says so, as soon as the bytes pass
the limit when it comes in chunks without one. Driven through the whole app at the ASGI
level, so that the test controls the body as it arrives."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from core.app import UPLOAD_LIMITS, create_app
from core.body_limit import DEFAULT_LIMIT, RequestBodyLimit
from core.services import Services
from seal.service import MAX_DOCUMENT_BYTES

CHUNK = 1024 * 1024


def call(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], chunks: int, first: bytes = b""
) -> tuple[int, dict[str, Any], int]:
    """POST ``chunks`` chunks of a MiB to ``path`` (``first`` before the first); the
    status, the JSON answer, and how many chunks the app asked for."""
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        if asked > chunks:
            await asyncio.sleep(3600)  # the client sends nothing more
        chunk = (first if asked == 1 else b"") + b"x" * CHUNK
        return {"type": "http.request", "body": chunk, "more_body": asked < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"govtrust.test"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("govtrust.test", 443),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), asked


MULTIPART = (b"content-type", b"multipart/form-data; boundary=xyz")
# a file part's head: what follows is the file, for as long as the client sends it
FILE_PART = (
    b'--xyz\r\nContent-Disposition: form-data; name="document"; filename="a.pdf"\r\n'
    b"Content-Type: application/pdf\r\n\r\n"
)


def test_a_declared_length_over_the_limit_is_refused_unread(services: Services) -> None:
    app = create_app(services=services)
    too_long = str(MAX_DOCUMENT_BYTES + 2 * CHUNK).encode()
    status, body, asked = call(
        app, "/signatures/validate", [MULTIPART, (b"content-length", too_long)], 30
    )
    assert status == 413 and body["status"] == 413
    assert asked == 0  # not a byte of it read


def test_a_body_in_chunks_is_cut_off_once_past_the_limit(services: Services) -> None:
    """No Content-Length (chunked): an anonymous upload is read up to its limit only, and
    the answer is the 413, not the form parser's complaint about a body cut short."""
    app = create_app(services=services)
    limit = MAX_DOCUMENT_BYTES + CHUNK
    status, body, asked = call(app, "/signatures/validate", [MULTIPART], 100, FILE_PART)
    assert status == 413 and body["title"] == "Content Too Large"
    # stopped at the first chunk past the limit
    assert (asked - 1) * CHUNK + len(FILE_PART) <= limit < asked * CHUNK + len(FILE_PART)


def test_every_other_body_has_the_default_limit(services: Services) -> None:
    app = create_app(services=services)
    json_body = (b"content-type", b"application/json")
    length = str(DEFAULT_LIMIT + 1).encode()
    assert call(app, "/licences", [json_body, (b"content-length", length)], 9)[0] == 413
    status, _, asked = call(app, "/licences", [json_body], 20)  # in chunks
    assert status == 413 and asked == DEFAULT_LIMIT // CHUNK + 1


def test_an_oauth_endpoint_answers_in_its_own_error_json(services: Services) -> None:
    app = create_app(services=services)
    form = (b"content-type", b"application/x-www-form-urlencoded")
    length = str(DEFAULT_LIMIT + 1).encode()
    status, body, asked = call(app, "/token", [form, (b"content-length", length)], 9)
    assert (status, body["error"], asked) == (413, "invalid_request", 0)


def test_a_body_within_its_limit_reaches_the_application(services: Services) -> None:
    """Within the limit nothing changes: here the validation endpoint's own answer to a
    file part that never ends (400 or 422), after reading all that came."""
    app = create_app(services=services)
    status, _, asked = call(app, "/signatures/validate", [MULTIPART], 3, FILE_PART)
    assert status in (400, 422) and asked >= 3


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/seals/abc/stamp", MAX_DOCUMENT_BYTES + CHUNK),
        ("/console/validate", MAX_DOCUMENT_BYTES + CHUNK),
        ("/seals/abc/stamp-batch", UPLOAD_LIMITS[1][1]),
        ("/seals/abc/stamp/extra", DEFAULT_LIMIT),
        ("/licences", DEFAULT_LIMIT),
    ],
)
def test_the_limit_of_each_path(path: str, limit: int) -> None:
    assert RequestBodyLimit(None, UPLOAD_LIMITS).limit(path) == limit  # type: ignore[arg-type]
