"""The corked HTTP protocol (core/http_protocol.py): an answer's status line, headers and
body leave in one write; nothing is lost, reordered or written after the end of the
stream; uvicorn serves keep-alive, ``Connection: close``, HEAD, streamed and large answers
through it as before."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
import uvicorn

from core.http_protocol import CorkedHttpToolsProtocol, CorkedTransport
from tests.security.faults import free_port


class RecordingTransport:
    """What the real transport was asked to do, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.calls.append(("close", None))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", None))
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def set_protocol(self, protocol: object) -> None:
        self.calls.append(("set_protocol", protocol))

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("10.0.0.1", 1234)}.get(name, default)


def corked(steps: Any) -> list[tuple[str, Any]]:
    """Run ``steps(transport)`` (a coroutine function) on a loop; the real transport's calls."""
    real = RecordingTransport()

    async def main() -> None:
        transport = CorkedTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        await steps(transport)
        await asyncio.sleep(0)  # one more turn of the loop: what is pending leaves

    asyncio.run(main())
    return real.calls


def test_the_writes_of_one_turn_leave_as_one() -> None:
    async def steps(transport: CorkedTransport) -> None:
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(memoryview(b"{}"))
        assert transport.get_write_buffer_size() == 7 + 40  # the real one's and the pending

    assert corked(steps) == [("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")]


def test_writes_of_different_turns_leave_separately_and_in_order() -> None:
    async def steps(transport: CorkedTransport) -> None:
        transport.write(b"a")
        await asyncio.sleep(0)
        transport.writelines([b"b", b"", b"c"])

    assert corked(steps) == [("write", b"a"), ("write", b"bc")]


def test_nothing_pending_writes_nothing() -> None:
    async def steps(transport: CorkedTransport) -> None:
        transport.write(b"")
        transport.flush()

    assert corked(steps) == []


@pytest.mark.parametrize("end", ["close", "write_eof", "set_protocol"])
def test_what_is_pending_is_written_before_the_stream_ends_or_changes(end: str) -> None:
    async def steps(transport: CorkedTransport) -> None:
        transport.write(b"last answer")
        if end == "set_protocol":
            transport.set_protocol(None)  # type: ignore[arg-type]
        else:
            getattr(transport, end)()

    calls = corked(steps)
    assert calls[0] == ("write", b"last answer") and calls[1][0] == end
    assert len(calls) == 2  # and not a second time at the end of the turn


def test_abort_drops_what_is_pending() -> None:
    async def steps(transport: CorkedTransport) -> None:
        transport.write(b"never sent")
        transport.abort()

    assert corked(steps) == [("abort", None)]


def test_nothing_is_written_to_a_transport_already_closing() -> None:
    real = RecordingTransport()

    async def main() -> None:
        transport = CorkedTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"too late")
        real.closing = True  # the peer went away in the meantime
        await asyncio.sleep(0)

    asyncio.run(main())
    assert real.calls == []


def test_everything_else_is_the_real_transport_s() -> None:
    async def steps(transport: CorkedTransport) -> None:
        assert transport.get_extra_info("peername") == ("10.0.0.1", 1234)
        assert transport.is_closing() is False

    assert corked(steps) == []


# --- uvicorn serving through the protocol --------------------------------------------


class Counting:
    """The real transport, counting what is written to it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def write(self, data: Any) -> None:
        Recorded.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class Recorded(CorkedHttpToolsProtocol):
    """The corked protocol over a counting transport."""

    writes: ClassVar[list[bytes]] = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(Counting(transport))  # type: ignore[arg-type]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
        return
    body = b"x" * (4 * 1024 * 1024) if path == "/large" else b'{"ok":true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def server() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=Recorded, log_config=None, access_log=False
    )
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    while not served.started:
        thread.join(0.01)
    Recorded.writes.clear()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        served.should_exit = True
        thread.join(10)


def test_each_small_answer_is_one_write_on_a_kept_alive_connection(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        answers = [client.get("/token") for _ in range(5)]
    assert [a.json() for a in answers] == [{"ok": True}] * 5
    assert len(Recorded.writes) == 5
    assert all(
        w.startswith(b"HTTP/1.1 200 OK\r\n") and w.endswith(b'{"ok":true}') for w in Recorded.writes
    )


def test_an_answer_on_a_closing_connection_arrives_whole(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"GET /token HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):  # until the server closes
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK\r\n") and received.endswith(b'{"ok":true}')
    assert b"connection: close" in received.lower()


def test_head_streamed_and_large_answers(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        head = client.head("/token")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == "11"
        assert client.get("/stream").content == b"one,two,three"
        large = client.get("/large")
        assert len(large.content) == 4 * 1024 * 1024 and set(large.content) == {ord("x")}
        assert client.get("/token").json() == {"ok": True}  # the connection is still good
