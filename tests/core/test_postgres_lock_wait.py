"""A statement waits a bounded time for a lock another transaction holds, then fails.

PostgreSQL's ``lock_timeout``, sent by the engine at connection start
(``core/db/engine.py::SERVER_SETTINGS``; PostgreSQL documentation, "Client Connection
Defaults"): a write behind a transaction that is stuck, or that an administrator left open
in ``psql``, fails with ``OperationalError`` (its request gets a 503) and its transaction is
rolled back, instead of holding a worker's thread for as long as the other one lasts. The
embedded default gives up on SQLite's write lock after as long (``BUSY_SECONDS``).
PostgreSQL only.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from core.db import engine as engine_module
from core.db.engine import (
    BUSY_SECONDS,
    SERVER_SETTINGS,
    make_engine,
    make_session_factory,
    transaction,
)
from tests.thread_outcome import in_thread

WAIT = "500ms"  # the bound made small for the test


def test_the_bound_is_the_embedded_default_s() -> None:
    assert SERVER_SETTINGS["lock_timeout"] == f"{BUSY_SECONDS}s"


def test_a_write_behind_a_lock_held_elsewhere_fails_within_the_bound(
    pg_schema: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "SERVER_SETTINGS", {**SERVER_SETTINGS, "lock_timeout": WAIT})
    url, schema = pg_schema
    engine = make_engine(url, schema=schema)
    sessions = make_session_factory(engine)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE counters (id int PRIMARY KEY, n int)"))
            connection.execute(text("INSERT INTO counters VALUES (1, 0)"))
        holder = engine.connect()  # a transaction left open, holding the row
        holder.begin()
        holder.execute(text("UPDATE counters SET n = -1 WHERE id = 1"))

        def write() -> None:
            with transaction(sessions) as session:
                session.execute(text("UPDATE counters SET n = n + 10 WHERE id = 1"))

        started = time.monotonic()
        writer, outcome = in_thread(write)
        writer.join(5)
        waited = time.monotonic() - started
        holder.rollback()  # lets a writer that was still waiting go on
        holder.close()
        writer.join(5)

        assert waited < 5, "the write was still waiting for the lock"
        assert isinstance(outcome[0], OperationalError), outcome
        assert "lock timeout" in str(outcome[0])
        # nothing of it was written; with the lock gone the same write goes through
        with transaction(sessions) as session:
            assert session.execute(text("SELECT n FROM counters")).scalar_one() == 0
            session.execute(text("UPDATE counters SET n = n + 10 WHERE id = 1"))
        with engine.connect() as connection:
            assert connection.execute(text("SELECT n FROM counters")).scalar_one() == 10
    finally:
        engine.dispose()
