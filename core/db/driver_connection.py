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

``wait_when_busy=False`` (SQLite only) is for a connection of the event loop, which must
never sleep: its busy timeout is zero, so a statement that would have to wait for a lock
fails at once (``OperationalError``, "database is locked"; in WAL mode a reader does not
wait for writers, so a read rarely does), and its commits leave the WAL's checkpoints to
other connections (``wal_autocheckpoint`` zero: the commit that crosses the threshold would
otherwise copy the WAL into the database file and wait for the disk, on the loop); its owner
has them made elsewhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
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
        self._begin = "BEGIN IMMEDIATE" if engine.dialect.name == "sqlite" else "BEGIN"
        try:
            self.placeholder = PLACEHOLDERS[engine.dialect.paramstyle]
        except KeyError as exc:
            raise ValueError(f"unsupported paramstyle {engine.dialect.paramstyle}") from exc

    def placeholders(self, count: int) -> str:
        return ", ".join([self.placeholder] * count)

    def execute(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run one statement (committed on its own, outside :meth:`transaction`); the rows
        it returns, if any. The driver's errors are raised as SQLAlchemy's
        (``OperationalError``, ...), as everywhere else in the service."""
        return self._run(sql, parameters, None)[0]

    def query(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        """:meth:`execute` for a statement known to return rows: their values only, without
        the cursor's description (psycopg builds a column object per column for it)."""
        return self._run(sql, parameters, True)[0]

    def execute_count(self, sql: str, parameters: Sequence[Any]) -> int:
        """:meth:`execute` for a statement that returns no rows: how many it changed."""
        return self._run(sql, parameters, False)[1]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """The statements run inside are one transaction: ``BEGIN`` (``BEGIN IMMEDIATE`` on
        SQLite, so that a writer takes the write lock first; its caller takes its turn
        among this process's writers first, :func:`core.db.engine.write_turn`), then
        ``COMMIT``. On any exception the connection is discarded, which rolls back."""
        self.execute_count(self._begin, ())
        try:
            yield
        except BaseException:
            self.close()
            raise
        self.execute_count("COMMIT", ())

    def _run(
        self, sql: str, parameters: Sequence[Any], rows: bool | None
    ) -> tuple[list[tuple[Any, ...]], int]:
        """``rows``: whether the statement returns rows (None: ask the cursor)."""
        dbapi_error: type[Exception] = self._engine.dialect.loaded_dbapi.Error
        try:
            connection = self._open()
            cursor = connection.cursor()
            try:
                cursor.execute(sql, parameters)
                if rows is None:
                    rows = cursor.description is not None
                return (list(cursor.fetchall()) if rows else []), cursor.rowcount
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
            settings: tuple[str, ...] = ()
            if self._engine.dialect.name == "postgresql":
                connection.driver_connection.autocommit = True  # type: ignore[union-attr]
            elif not self._wait_when_busy:
                # SQLite: core.db.engine already set pysqlite's isolation_level to None
                settings = ("PRAGMA busy_timeout = 0", "PRAGMA wal_autocheckpoint = 0")
            for setting in settings:
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


class ThreadConnections:
    """One :class:`DriverConnection` for each thread that asks (the threads of an executor),
    all closed by :meth:`close`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[DriverConnection] = []

    def get(self) -> DriverConnection:
        connection: DriverConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = DriverConnection(self._engine)
            with self._lock:
                self._all.append(connection)
        return connection

    def close(self) -> None:
        """At shutdown, when nothing uses them any more."""
        with self._lock:
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()


def driver_converters(
    engine: Engine, table: Table, columns: Sequence[str]
) -> list[Callable[[Any], Any]]:
    """For each of ``columns``, what turns a Python value into the driver's, as the column's
    SQLAlchemy type does (:meth:`~sqlalchemy.types.TypeEngine.bind_processor`), so that rows
    written through a driver's own connection are stored exactly as the ORM stores them."""
    return [
        _or_same(_dialect_type(engine, table, name).bind_processor(engine.dialect))
        for name in columns
    ]


def result_converters(
    engine: Engine, table: Table, columns: Sequence[str]
) -> list[Callable[[Any], Any]]:
    """For each of ``columns``, what turns the driver's value into the Python value the ORM
    would read (:meth:`~sqlalchemy.types.TypeEngine.result_processor`)."""
    return [
        _or_same(_dialect_type(engine, table, name).result_processor(engine.dialect, None))
        for name in columns
    ]


def _dialect_type(engine: Engine, table: Table, name: str) -> Any:
    # the dialect's own form of the column's type: a TypeDecorator's processors alone would
    # hand SQLite a datetime for its driver to format, not the text the ORM stores
    return table.c[name].type.dialect_impl(engine.dialect)


def _or_same(processor: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    return processor if processor is not None else _same


def _same(value: Any) -> Any:
    return value
