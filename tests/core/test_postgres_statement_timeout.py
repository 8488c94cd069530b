"""A statement runs a bounded time, then the server cancels it and its request gets a 503.

PostgreSQL's ``statement_timeout``, sent by the engine at connection start
(``core/db/engine.py::SERVER_SETTINGS``; PostgreSQL documentation, "Client Connection
Defaults"): a statement that runs away (a plan gone wrong) fails with ``OperationalError``
instead of holding a worker's thread and a pooled connection; migrations run without it.
PostgreSQL only.
"""

from __future__ import annotations

import time

import pytest
from alembic.config import Config
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from core.db import engine as engine_module
from core.db import migrate
from core.db.engine import (
    SERVER_SETTINGS,
    STATEMENT_SECONDS,
    make_engine,
    make_session_factory,
    transaction,
)
from core.errors.handlers import install_error_handlers
from core.errors.problem import PROBLEM_MEDIA_TYPE

BOUND = "500ms"  # the bound made small for the test


def test_every_connection_runs_under_the_bound(pg_schema: tuple[str, str]) -> None:
    assert SERVER_SETTINGS["statement_timeout"] == f"{STATEMENT_SECONDS}s"
    url, schema = pg_schema
    engine = make_engine(url, schema=schema)
    try:
        with engine.connect() as connection:
            shown = connection.execute(text("SHOW statement_timeout")).scalar_one()
        assert shown == f"{STATEMENT_SECONDS}s"
    finally:
        engine.dispose()


def test_a_statement_past_the_bound_is_cancelled_and_answered_503(
    pg_schema: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        engine_module, "SERVER_SETTINGS", {**SERVER_SETTINGS, "statement_timeout": BOUND}
    )
    url, schema = pg_schema
    engine = make_engine(url, schema=schema)
    sessions = make_session_factory(engine)
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/slow")
    def slow() -> dict[str, int]:
        with transaction(sessions) as session:
            session.execute(text("SELECT pg_sleep(5)"))
        return {"slept": 5}

    try:
        started = time.monotonic()
        with (
            pytest.raises(OperationalError, match="statement timeout"),
            transaction(sessions) as session,
        ):
            session.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < 3
        answer = TestClient(app).get("/slow")
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
        assert "Traceback" not in answer.text
        with transaction(sessions) as session:  # the pool's connection is usable again
            assert session.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_migrations_run_without_the_bound_and_leave_it_in_place(
    pg_schema: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        engine_module, "SERVER_SETTINGS", {**SERVER_SETTINGS, "statement_timeout": BOUND}
    )
    seen: list[str] = []

    def migrations(config: Config, revision: str) -> None:
        connection = config.attributes["connection"]
        seen.append(connection.execute(text("SHOW statement_timeout")).scalar_one())

    url, schema = pg_schema
    engine = make_engine(url, schema=schema)
    try:
        monkeypatch.setattr(migrate.command, "upgrade", migrations)
        migrate.upgrade(engine)
        assert seen == ["0"]
        with engine.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar_one() == BOUND
    finally:
        engine.dispose()
