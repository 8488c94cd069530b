"""Shared fixtures: every storage and cache test runs on the embedded default (SQLite file,
in-process cache) and on the real servers (PostgreSQL, Redis).

The real servers are named by ``GOVTRUST_TEST_DATABASE_URL`` and ``GOVTRUST_TEST_REDIS_URL``
(``.ci/run`` sets both). Without them those cases are skipped, unless
``GOVTRUST_TEST_REQUIRE_REAL_BACKENDS=1`` (CI), where a missing server fails the run.
Each PostgreSQL case gets its own schema; each Redis case its own key prefix.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text

from core.audit.checkpoint import Ed25519NoteSigner
from core.audit.trail import AuditTrail
from core.cache import Cache, MemoryCache, RedisCache
from core.db.engine import normalise_url
from core.db.migrate import upgrade
from core.services import Services, build_services
from core.settings import Settings
from keys.master import new_master_key

PG_URL = os.environ.get("GOVTRUST_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("GOVTRUST_TEST_REDIS_URL")
REQUIRE_REAL = os.environ.get("GOVTRUST_TEST_REQUIRE_REAL_BACKENDS") == "1"
TEST_SECRET = "test-secret-0123456789abcdef0123456789abcdef"


def _need(url: str | None, what: str) -> str:
    if url:
        return url
    if REQUIRE_REAL:
        pytest.fail(f"{what} is required (GOVTRUST_TEST_REQUIRE_REAL_BACKENDS=1) but not set")
    pytest.skip(f"{what} not set")


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL schema (url, schema), dropped afterwards."""
    url = normalise_url(_need(PG_URL, "GOVTRUST_TEST_DATABASE_URL"))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url, schema
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["embedded", "real"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which backends a test runs on: SQLite + in-process cache, or PostgreSQL + Redis."""
    return str(request.param)


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "secret_key": TEST_SECRET,
        "data_dir": tmp_path,
        "issuer": "https://govtrust.test",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def _services(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, clock: FrozenClock
) -> Services:
    schema: str | None = None
    if backend == "embedded":
        settings = make_settings(tmp_path)
    else:
        url, schema = request.getfixturevalue("pg_schema")
        settings = make_settings(
            tmp_path,
            database_url=url,
            redis_url=_need(REDIS_URL, "GOVTRUST_TEST_REDIS_URL"),
            cache_prefix=f"test:{uuid.uuid4().hex[:12]}:",
        )
    built = build_services(settings, schema=schema, clock=clock)
    upgrade(built.engine)
    return built


@pytest.fixture
def services(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, clock: FrozenClock
) -> Iterator[Services]:
    """Migrated services with their keys, on the chosen backend, on a frozen clock."""
    built = _services(backend, tmp_path, request, clock)
    built.keys.init()
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def cli_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """The embedded default as ``govtrust`` commands run in this process find it (its
    environment set, other backends' variables removed): migrated, with its keys. A test
    registers what it needs here, then drives the CLI against the same files."""
    master = new_master_key()
    for name, value in {
        "GOVTRUST_ENVIRONMENT": "test",
        "GOVTRUST_SECRET_KEY": TEST_SECRET,
        "GOVTRUST_DATA_DIR": str(tmp_path),
        "GOVTRUST_ISSUER": "https://govtrust.test",
        "GOVTRUST_MASTER_KEY": master,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("GOVTRUST_DATABASE_URL", "GOVTRUST_REDIS_URL", "GOVTRUST_KEY_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    built = build_services(make_settings(tmp_path, master_key=master))
    upgrade(built.engine)
    built.keys.init()
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def audit_services(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, clock: FrozenClock
) -> Iterator[Services]:
    """Migrated services with an empty audit trail whose checkpoints are signed by an
    in-memory Ed25519 key (no key registry), for tests of the trail itself."""
    built = _services(backend, tmp_path, request, clock)
    signer = Ed25519NoteSigner("govtrust.test/audit", Ed25519PrivateKey.generate())
    built.audit = AuditTrail(signer=signer, origin=signer.name, clock=clock)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(params=["memory", "redis"])
def cache_factory(request: pytest.FixtureRequest) -> Iterator[Callable[[], Cache]]:
    """Builds caches of one kind; the memory one runs on a controllable clock."""
    made: list[Cache] = []
    if request.param == "memory":

        def build() -> Cache:
            cache = MemoryCache()
            made.append(cache)
            return cache
    else:
        url = _need(REDIS_URL, "GOVTRUST_TEST_REDIS_URL")
        prefix = f"test:{uuid.uuid4().hex[:12]}:"

        def build() -> Cache:
            cache = RedisCache(url, prefix=prefix)
            made.append(cache)
            return cache

    yield build
    for cache in made:
        cache.close()
