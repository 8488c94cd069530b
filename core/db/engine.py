"""Database engine and sessions (SQLAlchemy 2).

SQLite (the embedded default) gets foreign keys, WAL and a busy timeout so that a few
workers can share one file; PostgreSQL is used as configured. Every unit of work runs in
one transaction: :func:`transaction` commits on success and rolls back on any error, so
nothing is half-written.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.db import answer_deadline


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for a plain ``postgresql://`` URL."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling defers it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


WRITE_OPTION = "govtrust_write"
BUSY_SECONDS = 10
# one lock per SQLite engine: see write_turn
_write_locks: weakref.WeakKeyDictionary[Engine | Connection, threading.Lock] = (
    weakref.WeakKeyDictionary()
)
# PostgreSQL engines: how their driver connects (driver_connect_params)
_driver_params: weakref.WeakKeyDictionary[Engine, dict[str, Any]] = weakref.WeakKeyDictionary()


def _begin(connection: Any) -> None:
    """SQLite: a unit of work that writes takes the write lock when it starts (``BEGIN
    IMMEDIATE``), so that reading then writing never fails half-way on a lock upgrade;
    read-only sessions begin deferred and, in WAL mode, never wait for a writer."""
    if connection.get_execution_options().get(WRITE_OPTION):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


# How long a PostgreSQL connection may go unanswered before either end gives it up, so that a
# database host cut off by the network (a partition, a dead machine) costs the requests in
# flight an error (a 503) instead of a wait as long as the kernel's retransmissions (about
# 15 minutes) that would hold a worker's threads one by one.
#
# The client's end: libpq's connection parameters (PostgreSQL documentation, "Parameter Key
# Words"). A deployment's URL may set any of them itself (``?connect_timeout=2``); its own
# value is kept.
CONNECTION_BOUNDS: dict[str, int] = {
    # seconds to open a connection, the TCP handshake included
    "connect_timeout": 5,
    # while waiting for an answer (a long statement) nothing is sent, so the kernel probes a
    # silent peer: after 10 s of silence, every 5 s, given up after 2 unanswered probes
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 2,
    # milliseconds that sent data (a statement, a probe) may stay unacknowledged; a statement
    # that runs long is acknowledged at once by the server's kernel, so this bounds the
    # network, not the statement
    "tcp_user_timeout": 10_000,
}
# The server's end, as session settings sent at connection start (libpq's ``options``;
# PostgreSQL documentation, "Connection Settings" and "Client Connection Defaults"):
# - the same network bounds: without them a backend whose client was cut off in a
#   transaction waits for it, holding the transaction's row locks, for the server's default
#   keepalive time (two hours on Linux), and every later write to those rows waits as long;
# - ``lock_timeout``: a statement waits at most 10 s for a lock another transaction holds
#   (one that is stuck, or an administrator's left open), then fails, and its request gets
#   a 503; the embedded default gives up on SQLite's write lock after as long
#   (``BUSY_SECONDS``);
# - ``statement_timeout``: a statement runs at most 30 s (``STATEMENT_SECONDS``; a plan gone
#   wrong, a table scanned that should not be), then the server cancels it and its request
#   gets a 503, instead of holding a worker's thread and a pooled connection for as long.
#   Every statement of a request is far shorter; reads of the whole audit log go through a
#   server-side cursor, a batch at a time. Migrations lift it (:mod:`core.db.migrate`).
# A server that is up but silent (its disk hung, the host paused) is bounded on the client's
# end: :mod:`core.db.answer_deadline`.
# A URL that gives ``options`` itself replaces these. Behind a pooler (PgBouncer), the
# server's end is the pooler's: set these in ``postgresql.conf`` and PgBouncer's own
# keepalives, and let it pass over the parameter (``ignore_startup_parameters = options``).
STATEMENT_SECONDS = 30
SERVER_SETTINGS: dict[str, str] = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "2",
    "tcp_user_timeout": "10000",
    "lock_timeout": f"{BUSY_SECONDS}s",
    "statement_timeout": f"{STATEMENT_SECONDS}s",
}


def _postgres_connect_args(query: Mapping[str, Any], schema: str | None) -> dict[str, Any]:
    """The bounds above, except where the URL's ``query`` sets its own; ``schema`` (tests)."""
    connect_args: dict[str, Any] = {
        key: value for key, value in CONNECTION_BOUNDS.items() if key not in query
    }
    if "options" in query:
        options = [str(query["options"])]
    else:
        options = [f"-c {key}={value}" for key, value in SERVER_SETTINGS.items()]
    if schema:
        options.append(f"-c search_path={schema}")
    connect_args["options"] = " ".join(options)
    return connect_args


# A request may hold a second connection briefly (a key or claims lookup beside its unit of
# work): size the pool for a worker's thread pool (40 threads by default).
POOL: dict[str, Any] = {"pool_size": 20, "max_overflow": 30, "pool_timeout": 10}


def make_engine(url: str, *, schema: str | None = None) -> Engine:
    """Create an engine for ``url``; ``schema`` sets the PostgreSQL search path (tests)."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        pool: dict[str, Any] = {}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            pool = POOL
        engine = create_engine(url, connect_args={"timeout": BUSY_SECONDS}, **pool)
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin)
        _write_locks[engine] = threading.Lock()
        return engine
    connect_args = _postgres_connect_args(parsed.query, schema)
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=20,
        max_overflow=30,
        pool_timeout=10,
        connect_args=connect_args,
    )
    event.listen(engine, "do_connect", _connect_with_deadline)
    _, params = engine.dialect.create_connect_args(engine.url)
    _driver_params[engine] = {**params, **connect_args}
    return engine


def _connect_with_deadline(
    _dialect: Any, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> Any:
    """Each pooled PostgreSQL connection waits for the server a bounded time
    (:mod:`core.db.answer_deadline`)."""
    return answer_deadline.connect(*cargs, **cparams)


def driver_connect_params(engine: Engine) -> dict[str, Any]:
    """PostgreSQL: the keyword arguments with which the engine's driver (psycopg) connects,
    for a connection made outside the engine's pool (:mod:`core.db.async_postgres`)."""
    try:
        return dict(_driver_params[engine])
    except KeyError:
        raise ValueError("not a PostgreSQL engine made by make_engine") from None


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


class WriteTurnTaken(Exception):
    """:func:`write_turn` without waiting: another writer of this process has the turn."""


@contextmanager
def write_turn(engine: Engine | Connection, *, wait: bool = True) -> Iterator[None]:
    """On SQLite, this process's writers take turns here before ``BEGIN IMMEDIATE``.

    SQLite has one writer at a time; a writer that finds the lock taken sleeps in SQLite's
    busy handler (1, 2, 5, 10 ... 100 ms), and under load those sleeps made the tail of every
    writing request (a refresh's p99 was 440-740 ms, ``bench/PROFILE.md``). Waiting on a
    lock of the process instead wakes the next writer as soon as the last one is done;
    the busy handler is left for writers in other processes (the CLI). A no-op elsewhere.
    ``wait=False`` (a writer on the event loop, which must not wait): raises
    :class:`WriteTurnTaken` at once if another writer has the turn."""
    lock = _write_locks.get(engine)
    if lock is None:
        yield
        return
    if not wait:
        if not lock.acquire(blocking=False):
            raise WriteTurnTaken("another writer of this process has the turn")
    elif not lock.acquire(timeout=BUSY_SECONDS):
        raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError("database is busy"))
    try:
        yield
    finally:
        lock.release()


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work that writes: commit at the end, roll back on any exception.

    Every write goes through here. Do not open a second writing unit of work inside one
    (on SQLite the second would wait for the first)."""
    with factory() as session, write_turn(session.get_bind()), session.begin():
        session.connection(execution_options={WRITE_OPTION: True})
        yield session


def ping(engine: Engine) -> None:
    """Raise if the database cannot answer a trivial query."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
