"""Fixtures for the hardening suite: the app served over real HTTP on loopback, and a
world of people, organisations and clients with tokens obtained through the provider.

The fuzzing world is built once per module (key generation and logins are the slow part);
every other test here uses the shared per-test ``services`` of ``tests/conftest.py``.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from core.db.engine import normalise_url
from core.db.migrate import upgrade
from core.services import Services, build_services
from tests.conftest import PG_URL, REDIS_URL, FrozenClock, _need, make_settings


class LiveClock(FrozenClock):
    """Real time: for services a live server and several threads share."""

    def __call__(self) -> datetime:
        return datetime.now(UTC)


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the govtrust app did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


@contextmanager
def module_services(tmp_path: Path, backend: str) -> Iterator[Services]:
    """Migrated services with keys on real time, on SQLite + the in-process cache, or on
    PostgreSQL (a schema of its own, dropped afterwards) + Redis (a key prefix of its own)."""
    schema: str | None = None
    url = ""
    if backend == "embedded":
        settings = make_settings(tmp_path)
    else:
        url = normalise_url(_need(PG_URL, "GOVTRUST_TEST_DATABASE_URL"))
        schema = f"t_{uuid.uuid4().hex[:12]}"
        _schema_ddl(url, f'CREATE SCHEMA "{schema}"')
        settings = make_settings(
            tmp_path,
            database_url=url,
            redis_url=_need(REDIS_URL, "GOVTRUST_TEST_REDIS_URL"),
            cache_prefix=f"test:{uuid.uuid4().hex[:12]}:",
        )
    built = build_services(settings, schema=schema, clock=LiveClock())
    try:
        upgrade(built.engine)
        built.keys.init()
        yield built
    finally:
        built.close()
        if schema is not None:
            _schema_ddl(url, f'DROP SCHEMA "{schema}" CASCADE')


def _schema_ddl(url: str, statement: str) -> None:
    admin = create_engine(url)
    try:
        with admin.begin() as connection:
            connection.execute(text(statement))
    finally:
        admin.dispose()


from tests.idp.conftest import client, world  # noqa: E402, F401  (the provider's fixtures)
