"""Prepared statements sent through libpq itself, from the event loop.

:mod:`core.db.loop_batching` sends the hot path's batches of new access-token rows over
asynchronous PostgreSQL connections. Through psycopg's ``AsyncConnection.execute`` one
two-row ``INSERT`` cost the event loop 91-95 µs of CPU in a tight loop (its generators, a
future and a reader registered for every wait, the adaptation of each parameter); through
libpq's own calls (``psycopg.pq``, psycopg's documented binding of libpq) with one reader
kept on the socket, 53 µs, most of it the system calls. In the server the difference was
larger: about 45 µs of user and 12 µs of system time less per token, and 11-14 % more
tokens per second on two workers (``bench/PROFILE.md``, tenth pass).

:class:`LibpqConnection` wraps a connection opened by :class:`~core.db.async_postgres.
AsyncPostgres` (its settings, ``synchronous_commit`` among them, and UTF-8 as its client
encoding are psycopg's to set first) and from then on owns it: it prepares each statement
once per connection (the extended query protocol: ``Parse`` once, then ``Bind`` and
``Execute``; PostgreSQL documentation, "Message Flow", 55.2.3) and sends parameters as
text, a ``NULL`` for None. It is for statements that are atomic on their own (autocommit:
one multi-row ``INSERT``, one ``SELECT``, one data-modifying ``WITH``); the rows a
statement returns are read by psycopg's own loaders, so they come back as the driver's
cursor would give them. :class:`~core.db.libpq_pool.LibpqPool` keeps a few such
connections for each event loop, for statements sent one by one rather than in batches.
A statement that fails in the database raises SQLAlchemy's error for the driver's
(``IntegrityError`` for a duplicate key, ...),
as :class:`AsyncPostgres` does, and leaves the connection usable; a connection that is
lost raises ``OperationalError`` (and its socket is no longer watched, even while idle),
and its owner discards it. So does one whose answer has not come within
:data:`ANSWER_SECONDS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import Transformer
from psycopg.pq.abc import PGresult
from sqlalchemy.exc import DBAPIError

from core.db.async_postgres import AsyncPostgres

# how long a statement's answer is waited for: a server that stops answering (a host gone
# from the network, or a fault of this module's) costs the requests of that moment an
# error, not a wait for ever; the connection is then discarded
ANSWER_SECONDS = 10.0


def text_parameter(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text format: None, ``str``, ``int`` or an aware
    ``datetime`` (a naive one would be read in the session's time zone: refused)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise TypeError("a naive datetime has no unambiguous text form")
        return value.isoformat().encode()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode()
    raise TypeError(f"no text form for a parameter of type {type(value).__name__}")


def numbered(sql: str) -> str:
    """``%s`` placeholders (psycopg's) as libpq's ``$1``, ``$2``, ... in order. For SQL
    built from names and placeholders only."""
    parts = sql.split("%s")
    return "".join(f"{part}${index}" for index, part in enumerate(parts[:-1], 1)) + parts[-1]


class LibpqConnection:
    """One PostgreSQL connection's statements, sent and awaited on the running event loop
    through libpq; one statement at a time."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """Take over ``connection`` (use :meth:`open`): nothing else may use it after."""
        self._connection = connection  # its adapters load the rows
        self._pgconn = connection.pgconn
        self._fd = self._pgconn.socket
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None
        self._lost: psycopg.Error | None = None
        self._prepared: set[bytes] = set()
        self._loop.add_reader(self._fd, self._readable)
        self._watching = True

    @classmethod
    async def open(cls, connections: AsyncPostgres) -> LibpqConnection:
        """A new connection from ``connections``, its client encoding set to UTF-8 (the
        parameters' text form) through psycopg before libpq takes over."""
        connection = await connections.connect()
        try:
            await connections.execute(connection, "SET client_encoding TO 'UTF8'", [])
            return cls(connection)
        except BaseException:
            AsyncPostgres.discard(connection)
            raise

    @property
    def backend_pid(self) -> int:
        return int(self._pgconn.backend_pid)

    async def execute_prepared(self, name: str, sql: str, parameters: Sequence[Any]) -> int:
        """Run ``sql`` (``%s`` placeholders), prepared under ``name`` on first use; the
        number of rows it inserted, changed or returned."""
        result = await self._run(name, sql, parameters)
        return int(result.command_tuples or 0)

    async def query_prepared(
        self, name: str, sql: str, parameters: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """The rows ``sql`` returns, as psycopg's cursor would give them (see
        :meth:`execute_prepared`)."""
        result = await self._run(name, sql, parameters)
        loader = Transformer(self._connection)
        loader.set_pgresult(result)
        return loader.load_rows(0, result.ntuples, tuple)

    async def _run(self, name: str, sql: str, parameters: Sequence[Any]) -> PGresult:
        statement = name.encode()
        try:
            if self._lost is not None:
                raise self._lost
            if statement not in self._prepared:
                self._pgconn.send_prepare(statement, numbered(sql).encode())
                await self._result()
                self._prepared.add(statement)
            values = [text_parameter(value) for value in parameters]
            self._pgconn.send_query_prepared(statement, values)
            return await self._result()
        except psycopg.Error as exc:
            self._unwatch_if_closed()
            raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc

    async def _result(self) -> PGresult:
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                await self._sent_and_answered()
        except TimeoutError:
            # the answer may still come: the connection cannot carry another statement
            self._lost = psycopg.OperationalError(
                f"no answer from the server within {ANSWER_SECONDS:g} s"
            )
            raise self._lost from None
        failed: PGresult | None = None
        last: PGresult | None = None
        while (result := self._pgconn.get_result()) is not None:
            if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
                failed = failed or result
            last = result
        if failed is not None:
            raise _error_of(failed)
        if last is None:
            raise psycopg.OperationalError("no result from the server")
        return last

    async def _sent_and_answered(self) -> None:
        while self._pgconn.flush():  # what the socket did not take yet: wait until it can
            writable = self._loop.create_future()
            self._loop.add_writer(self._fd, _settle, writable)
            try:
                await writable
            finally:
                self._loop.remove_writer(self._fd)
        self._waiter = self._loop.create_future()
        try:
            if self._pgconn.is_busy():
                await self._waiter
        finally:
            self._waiter = None

    def _readable(self) -> None:
        waiter = self._waiter
        try:
            self._pgconn.consume_input()
        except psycopg.Error as exc:  # the connection is lost
            # its socket, if libpq has not closed it, would stay readable (end of file):
            # stop watching it either way (see _unwatch_if_closed)
            self._lost = exc
            self._unwatch()
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)
            return
        if waiter is not None and not waiter.done() and not self._pgconn.is_busy():
            waiter.set_result(None)

    def discard(self) -> None:
        """Close the connection (libpq's ``PQfinish``), from any thread: its reader leaves
        the event loop first, on the loop's own thread if that loop still runs."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self._loop and not self._loop.is_closed():
            with suppress(RuntimeError):  # the loop closed meanwhile: nothing is watching
                self._loop.call_soon_threadsafe(self._finish)
                return
        self._finish()

    def _unwatch_if_closed(self) -> None:
        """Stop watching the socket if libpq has closed it, as it does at once when it
        finds the connection lost. The loop must not keep a reader under that descriptor
        number: the next socket opened may get the number, and a reader added for it would
        then replace this one in the loop's table without being watched, or this one's
        removal at :meth:`discard` would remove it. Called right after each libpq call
        that can find the connection lost, before anything else runs on the loop."""
        if self._pgconn.status == pq.ConnStatus.BAD:
            self._unwatch()

    def _unwatch(self) -> None:
        if self._watching and not self._loop.is_closed():
            self._watching = False
            self._loop.remove_reader(self._fd)

    def _finish(self) -> None:
        self._unwatch()
        with suppress(Exception):
            self._pgconn.finish()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _error_of(result: PGresult) -> psycopg.Error:
    """The driver's exception for a failed result: its class by SQLSTATE (``UniqueViolation``
    for 23505, ...)."""
    state = result.error_field(pq.DiagnosticField.SQLSTATE)
    message = result.get_error_message("utf-8").strip()
    cls = psycopg.errors.lookup(state.decode()) if state else psycopg.DatabaseError
    return cls(message)
