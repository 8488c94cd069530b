"""A PostgreSQL server that stops answering costs a request an error, not a wait for ever.

``core/db/answer_deadline.py``: the backend of a connection is stopped (``SIGSTOP``, as a
hung disk or a paused host leaves it: its kernel still acknowledges, so neither keepalives
nor ``statement_timeout`` end the wait). A statement on it fails within the deadline, the
pool's ping replaces a pooled connection whose backend stopped, and migrations run without
the deadline. PostgreSQL only; the test signals the server's processes, so it runs as a user
allowed to (root here and in CI).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from core.db import answer_deadline, migrate
from core.db.engine import make_engine, make_session_factory, transaction
from tests.thread_outcome import in_thread

DEADLINE = 1.0  # made small for the test
WITHIN_SECONDS = 5.0  # the deadline, with room for a busy machine


@pytest.fixture
def engine(pg_schema: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setattr(answer_deadline, "ANSWER_SECONDS", DEADLINE)
    url, schema = pg_schema
    made = make_engine(url, schema=schema)
    try:
        yield made
    finally:
        made.dispose()


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    """The server process ``pid`` stopped for the block (then let go on)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_statement_to_a_stopped_backend_fails_within_the_deadline(engine: Engine) -> None:
    with engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert connection.execute(text("SELECT pg_sleep(0.3), 1")).one()[1] == 1  # under it
        with stopped(pid):
            waiter, outcome = in_thread(lambda: connection.execute(text("SELECT 1")))
            waiter.join(WITHIN_SECONDS)
            assert not waiter.is_alive(), "the statement was still waiting"
        waiter.join(WITHIN_SECONDS)  # let go on, a statement that waited ends
    assert isinstance(outcome[0], OperationalError), outcome
    assert "did not answer within 1 s" in str(outcome[0])
    with transaction(make_session_factory(engine)) as session:  # the pool goes on
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid


def test_a_pooled_connection_whose_backend_stopped_is_replaced(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions() as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    pids: list[int] = []

    def use_the_pool() -> None:
        with transaction(sessions) as session:
            pids.append(session.execute(text("SELECT pg_backend_pid()")).scalar_one())

    with stopped(pid):  # the pooled connection's backend: the checkout's ping meets it
        waiter, outcome = in_thread(use_the_pool)
        waiter.join(WITHIN_SECONDS)
        assert not waiter.is_alive(), "the checkout was still waiting"
    assert outcome == [None]
    assert pids and pids[0] != pid


def test_migrations_run_without_the_deadline_and_leave_it_in_place(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float | None] = []

    def migrations(config: Config, revision: str) -> None:
        seen.append(config.attributes["connection"].connection.dbapi_connection.deadline)

    monkeypatch.setattr(migrate.command, "upgrade", migrations)
    migrate.upgrade(engine)
    assert seen == [None]
    with engine.connect() as connection:
        assert connection.connection.dbapi_connection.deadline == DEADLINE  # type: ignore[union-attr]
