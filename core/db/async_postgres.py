"""Asynchronous PostgreSQL connections for statements sent from the event loop itself.

:mod:`core.db.loop_batching` sends its batches over these: psycopg's
:class:`~psycopg.AsyncConnection`, opened with the same parameters as the engine's own
connections (:func:`~core.db.engine.driver_connect_params`), in autocommit mode, for
statements that are atomic on their own (one multi-row ``INSERT``, one ``SELECT``), as
:class:`~core.db.driver_connection.DriverConnection` does on a thread. The driver's errors
are raised as SQLAlchemy's (``OperationalError``, ...), as everywhere else in the service.

``wait_for_flush=False`` turns ``synchronous_commit`` off for the connection (PostgreSQL
documentation, "Asynchronous Commit"): a statement returns once it is committed and visible
to every other session, without waiting for its WAL record to reach the disk; a crash of
the database server or of the machine may lose the last few hundred milliseconds of such
commits (never part of one, never anything else). SQLite's WAL mode with
``synchronous=NORMAL`` (:mod:`core.db.engine`) makes a milder form of that trade on the
embedded default: there only a crash of the machine, not of a process, can lose the last
commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from core.db.engine import driver_connect_params

CONNECT_SECONDS = 5.0


class AsyncPostgres:
    """Opens, uses and discards asynchronous connections to the engine's database."""

    placeholder = "%s"

    def __init__(self, engine: Engine, *, wait_for_flush: bool = True) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("AsyncPostgres needs a PostgreSQL engine")
        self._params = driver_connect_params(engine)
        self._wait_for_flush = wait_for_flush

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        try:
            connection = await asyncio.wait_for(
                psycopg.AsyncConnection.connect(autocommit=True, **self._params),
                CONNECT_SECONDS,
            )
            if not self._wait_for_flush:
                try:
                    await connection.execute("SET synchronous_commit = off")
                except BaseException:
                    self.discard(connection)
                    raise
        except psycopg.Error as exc:
            raise DBAPIError.instance("connect", None, exc, psycopg.Error) from exc
        except TimeoutError as exc:
            raise DBAPIError.instance(
                "connect", None, psycopg.OperationalError("connection timed out"), psycopg.Error
            ) from exc
        return connection

    async def execute(
        self, connection: psycopg.AsyncConnection[Any], sql: str, parameters: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """Run one statement (committed on its own); the rows it returns, if any."""
        try:
            cursor = await connection.execute(sql, parameters)
            return await cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc

    @staticmethod
    def discard(connection: psycopg.AsyncConnection[Any]) -> None:
        """Close the connection at once, from any thread and without its event loop (which
        may be gone): libpq's ``PQfinish``. Only for a connection with nothing in flight."""
        with suppress(Exception):
            connection.pgconn.finish()
