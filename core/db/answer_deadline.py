"""A PostgreSQL server that stops answering costs a request an error, not a wait for ever.

The network bounds of :mod:`core.db.engine` end a wait on a host that is cut off, and
``statement_timeout`` a statement the server runs too long. Neither ends a wait on a server
that is there but does not answer: a database host whose disk hangs, a stopped or paused
server. Its kernel still acknowledges what is sent, so no keepalive fails, and its backend
never reaches the point of cancelling its own statement. The engine's connections are
therefore :class:`DeadlineConnection`: every wait for the server (a statement, a fetch, a
commit, the pool's ping) ends after :data:`ANSWER_SECONDS`, longer than any bound the server
enforces itself; the connection is then closed, the pool discards it, and the request gets
``OperationalError`` (a 503). Migrations lift it, as they lift ``statement_timeout``.

psycopg 3 waits for the server in ``Connection.wait`` (psycopg documentation, "Connection
classes"; its ``timeout`` argument, psycopg >= 3.2); a test runs against the installed
version (``tests/core/test_postgres_answer_deadline.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors

ANSWER_SECONDS = 40.0
"""How long a wait for the server may last: past ``statement_timeout`` (30 s) and
``lock_timeout`` (10 s), so that the server's own bounds answer first when it can."""


class ServerSilent(psycopg.OperationalError):
    """The server did not answer within the connection's deadline; the connection is closed."""


class DeadlineConnection(psycopg.Connection[Any]):
    """A psycopg connection whose waits for the server end after ``deadline`` seconds
    (:data:`ANSWER_SECONDS` unless set; None: no deadline)."""

    deadline: float | None = ANSWER_SECONDS

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        if timeout is None and self.deadline is not None:
            timeout = self.deadline
        try:
            return super().wait(gen, interval=interval, timeout=timeout)
        except errors._WaitTimeout:
            self.pgconn.finish()  # its state is unknown: nobody may use it again
            raise ServerSilent(f"the database did not answer within {timeout:g} s") from None


def connect(*args: Any, **kwargs: Any) -> DeadlineConnection:
    """``psycopg.connect`` making a :class:`DeadlineConnection` (SQLAlchemy's ``do_connect``)."""
    connection = DeadlineConnection.connect(*args, **kwargs)
    connection.deadline = ANSWER_SECONDS
    return connection


@contextmanager
def lifted(connection: object) -> Iterator[None]:
    """No deadline on ``connection`` (a driver connection) for the block, if it has one."""
    if not isinstance(connection, DeadlineConnection):
        yield
        return
    before, connection.deadline = connection.deadline, None
    try:
        yield
    finally:
        connection.deadline = before
