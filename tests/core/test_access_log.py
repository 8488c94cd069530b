"""The access log (core/access_log.py): one JSON line per HTTP request, answered by the
general path or by the OAuth hot path, without the query string and without an ID number
in clear; off below INFO; uvicorn's own access log stays off."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from core.access_log import AccessLog, access_line
from core.app import create_app
from core.identifiers.resident_id import redact_resident_ids
from core.log import (
    ACCESS_LOGGER,
    JsonLinesHandler,
    access_log_sink,
    configure_logging,
    utc_time,
)
from core.services import Services
from tests.idp.oidc_helpers import build_world

ID = "11010519491231002X"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes the root logger: put it back for the other tests."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    loggers = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
        for name in names
    }
    yield
    root.handlers[:], level = saved
    root.setLevel(level)
    for name, (handlers, propagate) in loggers.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate


class Logged:
    """An app whose logs and access log go to a string."""

    def __init__(self, services: Services, level: str = "INFO") -> None:
        self.stream = io.StringIO()
        self.handler = configure_logging(level, self.stream)
        app = create_app(services=services, access_log=access_log_sink(self.handler))
        self.client = TestClient(app)

    def getvalue(self) -> str:
        self.handler.flush()  # access lines wait up to LINGER_SECONDS
        return self.stream.getvalue()


def logged_app(services: Services, level: str = "INFO") -> tuple[TestClient, Logged]:
    logged = Logged(services, level)
    return logged.client, logged


def server_lines(stream: Logged | io.StringIO) -> list[dict[str, Any]]:
    """What the service wrote (the test client, httpx, logs its requests too)."""
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [entry for entry in entries if entry["logger"] != "httpx"]


def access_lines(stream: Logged | io.StringIO) -> list[dict[str, Any]]:
    return [entry for entry in server_lines(stream) if entry["logger"] == ACCESS_LOGGER]


def test_each_request_writes_one_line_with_method_path_status_duration_client(
    services: Services, restore_logging: None
) -> None:
    client, stream = logged_app(services)
    assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    first, second = access_lines(stream)
    assert list(first)[:4] == ["time", "level", "logger", "message"]  # as every JSON line
    assert first["level"] == "INFO" and first["message"] == "GET /healthz 200"
    assert (first["method"], first["path"], first["status"]) == ("GET", "/healthz", 200)
    assert first["client"] == "testclient"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert (second["path"], second["status"]) == ("/no/such/page", 404)


def test_the_query_string_is_not_written(services: Services, restore_logging: None) -> None:
    client, stream = logged_app(services)
    client.get("/authorize?client_id=x&state=st4te-s3cret&nonce=n0nce&login_hint=" + ID)
    (entry,) = access_lines(stream)
    assert entry["path"] == "/authorize" and entry["method"] == "GET"
    written = json.dumps(server_lines(stream))
    for secret in ("st4te-s3cret", "n0nce", "110105********002X", "client_id"):
        assert secret not in written


def test_an_id_number_in_the_path_is_masked(services: Services, restore_logging: None) -> None:
    client, stream = logged_app(services)
    client.get(f"/licences/{ID}")
    (entry,) = access_lines(stream)
    assert ID not in stream.getvalue()
    assert entry["path"] == "/licences/110105********002X"
    assert entry["message"].startswith("GET /licences/110105********002X ")


def test_the_hot_path_s_answers_are_written_too(services: Services, restore_logging: None) -> None:
    world = build_world(services)
    client, stream = logged_app(services)
    data = {"grant_type": "client_credentials", "scope": "licence:read"}
    auth = (world.service_client_id, world.service_secret)
    for _ in range(3):  # the first fills the caches through the general path
        assert client.post("/token", data=data, auth=auth).status_code == 200
    assert [(e["method"], e["path"], e["status"]) for e in access_lines(stream)] == [
        ("POST", "/token", 200)
    ] * 3
    assert world.service_secret not in json.dumps(server_lines(stream))


def test_below_info_there_is_no_access_log(services: Services, restore_logging: None) -> None:
    handler = configure_logging("WARNING", io.StringIO())
    assert access_log_sink(handler) is None
    client, stream = logged_app(services, "WARNING")
    client.get("/healthz")
    assert server_lines(stream) == []


def test_uvicorn_s_own_access_log_is_off(restore_logging: None) -> None:
    """uvicorn writes its access line when its logger has a handler, by propagation too."""
    configure_logging("INFO", io.StringIO())
    assert not logging.getLogger("uvicorn.access").hasHandlers()
    assert logging.getLogger("uvicorn.error").hasHandlers()


class Lines(list[str]):
    def write_line(self, line: str) -> None:
        self.append(line)

    def flush(self) -> None:
        pass


def test_an_exception_before_the_answer_is_written_as_500() -> None:
    lines = Lines()

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    scope = {"type": "http", "method": "POST", "path": "/token", "client": ("10.0.0.7", 4431)}
    with pytest.raises(RuntimeError):
        asyncio.run(AccessLog(failing, lines)(scope, _no_body, _discard))
    entry = json.loads(lines[0])
    assert (entry["status"], entry["client"], entry["message"]) == (
        500,
        "10.0.0.7",
        "POST /token 500",
    )


def test_a_request_left_before_its_answer_has_no_status() -> None:
    lines = Lines()

    async def silent(scope: Any, receive: Any, send: Any) -> None:
        return None

    scope = {"type": "http", "method": "GET", "path": "/"}
    asyncio.run(AccessLog(silent, lines)(scope, _no_body, _discard))
    entry = json.loads(lines[0])
    assert entry["status"] is None and entry["client"] is None and entry["message"] == "GET / -"


def test_other_scopes_are_not_written() -> None:
    lines = Lines()
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    asyncio.run(AccessLog(app, lines)({"type": "lifespan"}, _no_body, _discard))
    assert seen == ["lifespan"] and lines == []


@given(
    method=st.sampled_from(["GET", "POST", "HEAD", "M-SEARCH"]),
    path=st.text(),
    status=st.none() | st.integers(100, 599),
    seconds=st.floats(0, 3600, allow_nan=False),
    client=st.none() | st.tuples(st.text(), st.integers(0, 65535)),
)
def test_the_line_is_what_a_json_encoder_writes(
    method: str, path: str, status: int | None, seconds: float, client: tuple[str, int] | None
) -> None:
    """Built by hand for speed, the line is json.dumps's to the character."""
    masked = redact_resident_ids(path)
    expected = {
        "time": utc_time(1_700_000_000.25),
        "level": "INFO",
        "logger": ACCESS_LOGGER,
        "message": f"{method} {masked} {'-' if status is None else status}",
        "method": method,
        "path": masked,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "client": client[0] if client else None,
    }
    line = access_line(method, path, status, seconds, client, 1_700_000_000.25)
    assert line == json.dumps(expected, ensure_ascii=False)
    assert json.loads(line) == expected and "\n" not in line


def test_a_line_is_one_json_object_on_one_line() -> None:
    line = access_line("GET", "/a\nb", 200, 0.0123456, ("::1", 1), 1_700_000_000.0)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["path"] == "/a\nb" and entry["duration_ms"] == 12.346
    assert entry["time"] == "2023-11-14T22:13:20.000+00:00" and entry["client"] == "::1"


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _discard(message: Any) -> None:
    return None


# --- the handler's batches (core.log.JsonLinesHandler) --------------------------------


def test_lines_written_on_the_loop_wait_then_leave_together(restore_logging: None) -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", stream)

    async def main() -> None:
        handler.write_line('{"n":1}')
        handler.write_line('{"n":2}')
        assert stream.getvalue() == ""  # waiting
        await asyncio.sleep(JsonLinesHandler.LINGER_SECONDS + 0.1)

    asyncio.run(main())
    assert stream.getvalue() == '{"n":1}\n{"n":2}\n'


def test_a_record_follows_the_lines_written_before_it(restore_logging: None) -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", stream)

    async def main() -> None:
        handler.write_line('{"n":1}')
        logging.getLogger("govtrust.test").warning("after the line")

    asyncio.run(main())
    first, second = stream.getvalue().splitlines()
    assert first == '{"n":1}' and json.loads(second)["message"] == "after the line"


def test_a_line_written_off_the_loop_is_written_at_once(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream).write_line('{"n":1}')
    assert stream.getvalue() == '{"n":1}\n'


def test_the_app_s_shutdown_writes_what_waits(
    services: Services, restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A uvicorn worker process ends without logging.shutdown: the lifespan flushes."""
    monkeypatch.setattr(JsonLinesHandler, "LINGER_SECONDS", 3600.0)
    stream = io.StringIO()
    handler = configure_logging("INFO", stream)
    app = create_app(services=services, access_log=access_log_sink(handler))
    with TestClient(app) as client:
        client.get("/healthz")
        assert ACCESS_LOGGER not in stream.getvalue()
    assert [e["path"] for e in access_lines(stream)] == ["/healthz"]
