"""uvicorn's HTTP/1.1 protocol (httptools) with its writes corked: what one answer writes
in one turn of the event loop leaves in one ``send`` call.

uvicorn writes an answer's status line and headers as soon as the application sends
``http.response.start``, and its body with ``http.response.body``: two writes, two
system calls and, on a connection with ``TCP_NODELAY`` (asyncio's default), two TCP
segments for every small JSON answer. On loopback under load the second ``send`` cost the
token endpoint about as much CPU as its ES256 signature (``bench/PROFILE.md``, seventh
pass). :class:`CorkedTransport` keeps what is written and hands it to the real transport
at the end of the current turn of the loop (``loop.call_soon``), as one buffer; it writes
at once what is pending before anything that ends or changes the stream (``close``,
``write_eof``, ``set_protocol``) and drops it on ``abort``.

``core.cli.serve`` runs uvicorn with ``http="core.http_protocol:CorkedHttpToolsProtocol"``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CorkedTransport:
    """An ``asyncio.Transport`` whose writes of one turn of the event loop are joined."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Hand what is pending to the real transport, as one buffer."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self._transport.set_protocol(protocol)

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:
        # everything else (is_closing, get_extra_info, pause_reading, ...) as it is
        return getattr(self._transport, name)


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a :class:`CorkedTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        corked = CorkedTransport(transport, self.loop)
        super().connection_made(corked)  # type: ignore[arg-type]
