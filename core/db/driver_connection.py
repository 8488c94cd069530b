"""One database connection of a batch thread, used through the driver itself.

A batch thread (:mod:`core.db.batching`) runs one statement per batch; through SQLAlchemy's
engine and pool, a one-row batch cost about three times what the statement itself costs on
SQLite (pool checkout and reset, events, execution context: ``bench/PROFILE.md``). This
keeps one connection, in autocommit mode, for statements that are atomic on their own (one
multi-row ``INSERT``; one ``SELECT``): no ``BEGIN``/``COMMIT`` round trips on PostgreSQL
either. Values are converted by the columns' own SQLAlchemy types
(:func:`driver_converters`), so rows are stored exactly as the ORM
stores them. After any error the connection is discarded (never returned to the pool in
autocommit mode) and the next statement opens a new one, so a database restart costs the
batches in flight and no more. Use it from one thread only.

``wait_when_busy=False`` (SQLite only) sets this connection's busy timeout to zero: a
statement that would have to wait for a lock fails at once (``OperationalError``,
"database is locked") instead of sleeping; for reads on the event loop, which must never
sleep. In WAL mode a reader does not wait for writers, so that is rare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

from sqlalchemy import Engine, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection

PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


class DriverConnection:
    def __init__(self, engine: Engine, *, wait_when_busy: bool = True) -> None:
        self._engine = engine
        self._wait_when_busy = wait_when_busy
        self._connection: PoolProxiedConnection | None = None
        self.opened = 0  # how many connections this has opened: a new one is a new session
        try:
            self.placeholder = PLACEHOLDERS[engine.dialect.paramstyle]
        except KeyError as exc:
            raise ValueError(f"unsupported paramstyle {engine.dialect.paramstyle}") from exc

    def placeholders(self, count: int) -> str:
        return ", ".join([self.placeholder] * count)

    def execute(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run one statement (committed on its own); the rows it returns, if any. The
        driver's errors are raised as SQLAlchemy's (``OperationalError``, ...), as
        everywhere else in the service."""
        dbapi_error: type[Exception] = self._engine.dialect.loaded_dbapi.Error
        try:
            connection = self._open()
            cursor = connection.cursor()
            try:
                cursor.execute(sql, parameters)
                return list(cursor.fetchall()) if cursor.description else []
            finally:
                cursor.close()
        except BaseException as exc:
            self.close()
            if isinstance(exc, dbapi_error):
                raise DBAPIError.instance(sql, None, exc, dbapi_error) from exc
            raise

    def _open(self) -> PoolProxiedConnection:
        if self._connection is None:
            # held before it is set up, so that an error here closes it too (execute)
            connection = self._connection = self._engine.raw_connection()
            self.opened += 1
            setting = None
            if self._engine.dialect.name == "postgresql":
                connection.driver_connection.autocommit = True  # type: ignore[union-attr]
            elif not self._wait_when_busy:
                # SQLite: core.db.engine already set pysqlite's isolation_level to None
                setting = "PRAGMA busy_timeout = 0"
            if setting is not None:
                cursor = connection.cursor()
                cursor.execute(setting)
                cursor.close()
        return self._connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with suppress(Exception):
                connection.invalidate()  # never back to the pool in autocommit mode
            with suppress(Exception):
                connection.close()


def driver_converters(
    engine: Engine, table: Table, columns: Sequence[str]
) -> list[Callable[[Any], Any]]:
    """For each of ``columns``, what turns a Python value into the driver's, as the column's
    SQLAlchemy type does (:meth:`~sqlalchemy.types.TypeEngine.bind_processor`), so that rows
    written through a driver's own connection are stored exactly as the ORM stores them."""
    converters: list[Callable[[Any], Any]] = []
    for name in columns:
        processor = table.c[name].type.bind_processor(engine.dialect)
        converters.append(processor if processor is not None else _same)
    return converters


def _same(value: Any) -> Any:
    return value
