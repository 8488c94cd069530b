"""The memory of usable access tokens (idp/oauth/usable_token_memory.py): a token found
usable is not looked up again until something may have revoked it; a lookup that raced a
revocation is not remembered.

PostgreSQL: a revocation committed in this process is seen at once, one committed by
another process (a plain connection here, unseen by this process's engine) within the time
a notification takes; while the listening connection is down nothing is remembered and
nothing sent meanwhile is missed; without migration 0014's triggers the memory stays off.

SQLite: a revocation committed by any connection, of this process or another, is seen by
the next introspection, new tokens written meanwhile do not empty the memory, a new reader
connection starts over, and without migration 0015's counter the memory stays off."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, TypeVar

import psycopg
import pytest
from sqlalchemy import update

from core.db.engine import driver_connect_params, transaction
from core.services import Services
from idp.clients.models import Channel
from idp.oauth.access_token_ledger import (
    AccessTokenLedger,
    AccessTokenRecord,
    _PostgresRows,
    _SqliteRows,
    never,
)
from idp.oauth.storage import AccessTokenRow, GrantRow
from idp.oauth.usable_token_memory import UsableTokenMemory
from tests.idp.hot_paths import eventually
from tests.idp.oidc_helpers import REDIRECT, client_service

Rows = TypeVar("Rows", _PostgresRows, _SqliteRows)


def test_only_what_was_looked_up_since_the_last_forgetting_is_known() -> None:
    memory = UsableTokenMemory(max_entries=3)
    memory.remember("a", memory.generation)
    assert not memory.knows("a")  # off until its listener is ready
    memory.switch_on()
    for jti in ("a", "b", "c", "d"):
        memory.remember(jti, memory.generation)
    assert [memory.knows(jti) for jti in "abcd"] == [False, True, True, True]  # oldest out
    memory.forget_all("oauth_grants")
    assert not any(memory.knows(jti) for jti in "bcd")
    memory.remember("e", memory.generation)
    memory.switch_off()
    assert not memory.knows("e")
    memory.remember("e", memory.generation)
    assert not memory.knows("e")


def test_a_lookup_that_raced_a_revocation_is_not_remembered() -> None:
    memory = UsableTokenMemory()
    memory.switch_on()
    before_the_read = memory.generation
    memory.forget_all()  # a revocation arrives while the row is being read
    memory.remember("raced", before_the_read)
    assert not memory.knows("raced")


def ledger_rows(services: Services, kind: type[Rows], reason: str) -> Iterator[Rows]:
    """The ledger's rows of ``kind`` (a backend), or the test is skipped: ``reason``."""
    ledger = AccessTokenLedger(services.sessions)
    if not isinstance(ledger._backend, kind):
        ledger.close()
        pytest.skip(reason)
    try:
        yield ledger._backend
    finally:
        ledger.close()


@pytest.fixture
def rows(services: Services) -> Iterator[_PostgresRows]:
    yield from ledger_rows(services, _PostgresRows, "the memory is PostgreSQL's (LISTEN/NOTIFY)")


def other_process(services: Services, sql: str, *parameters: Any) -> None:
    """A write through a connection of its own, as another worker or the CLI makes it:
    this process's engine does not see it."""
    with psycopg.connect(autocommit=True, **driver_connect_params(services.engine)) as other:
        other.execute(sql, parameters)  # type: ignore[arg-type]


def new_token(services: Services, jti: str, grant_id: str | None = None) -> None:
    now = services.idp.ctx.clock()
    row = AccessTokenRecord(jti, "c", "c", "s", now, now + timedelta(minutes=5), grant_id)
    with transaction(services.sessions) as session:
        session.add(AccessTokenRow(**row.columns()))


def token_of_a_grant(services: Services, jti: str) -> None:
    """A web client's grant ``g1`` and a token ``jti`` issued from it."""
    client, _ = client_service(services).register(
        name="门户", channel=Channel.WEB, redirect_uris=[REDIRECT], scope="openid"
    )
    now = services.idp.ctx.clock()
    with transaction(services.sessions) as session:
        session.add(GrantRow(id="g1", client_id=client.client_id, scope="openid", created_at=now))
    new_token(services, jti, grant_id="g1")


def lookups(rows: _PostgresRows) -> list[list[str]]:
    """Record each batch of lookups that reaches the database."""
    seen: list[list[str]] = []
    read = rows._read

    def counting(jtis: list[str]) -> list[bool]:
        seen.append(list(jtis))
        return read(jtis)

    rows.reads._run = counting
    return seen


def usable(rows: _PostgresRows | _SqliteRows, jti: str) -> bool:
    return asyncio.run(rows.usable(jti, never))


def test_a_usable_token_is_looked_up_once(services: Services, rows: _PostgresRows) -> None:
    seen = lookups(rows)
    new_token(services, "once")
    assert usable(rows, "once")  # starts the listener
    assert eventually(lambda: rows.memory.on)
    assert seen == [["once"]]
    # The channel is the database's, so a revocation by a test running beside this one, in
    # a schema of its own, makes this memory forget too (safe: a lookup more). Then the
    # lookups are counted again.
    for _ in range(5):
        seen.clear()
        generation = rows.memory.generation
        assert usable(rows, "once")  # looked up again: the first lookup preceded the memory
        assert usable(rows, "once") and usable(rows, "once")
        assert not usable(rows, "unknown") and not usable(rows, "unknown")
        if rows.memory.generation == generation:
            break
    assert seen == [["once"], ["unknown"], ["unknown"]]


def test_a_revocation_in_this_process_is_seen_at_once(
    services: Services, rows: _PostgresRows
) -> None:
    new_token(services, "here")
    usable(rows, "here")
    assert eventually(lambda: rows.memory.on)
    assert usable(rows, "here") and rows.memory.knows("here")
    # notifications ignored from here: the commit itself must make the memory forget
    rows.listener._on_notify = lambda _payload: None
    with transaction(services.sessions) as session:
        session.execute(
            update(AccessTokenRow)
            .where(AccessTokenRow.jti == "here")
            .values(revoked_at=services.idp.ctx.clock())
        )
    assert not rows.memory.knows("here")
    assert not usable(rows, "here")


@pytest.mark.parametrize("what", ["token", "grant", "deleted"])
def test_a_revocation_by_another_process_arrives_as_a_notification(
    services: Services, rows: _PostgresRows, what: str
) -> None:
    token_of_a_grant(services, "there")
    usable(rows, "there")
    assert eventually(lambda: rows.memory.on)
    assert usable(rows, "there") and rows.memory.knows("there")
    statement = {
        "token": "UPDATE oauth_access_tokens SET revoked_at = now() WHERE jti = %s",
        "grant": "UPDATE oauth_grants SET revoked_at = now() WHERE id = "
        "(SELECT grant_id FROM oauth_access_tokens WHERE jti = %s)",
        "deleted": "DELETE FROM oauth_access_tokens WHERE jti = %s",
    }[what]
    other_process(services, statement, "there")
    assert eventually(lambda: not rows.memory.knows("there"), seconds=2)
    assert not usable(rows, "there")


def test_while_the_listener_is_down_nothing_is_remembered_or_missed(
    services: Services, rows: _PostgresRows
) -> None:
    new_token(services, "kept")
    usable(rows, "kept")
    assert eventually(lambda: rows.memory.on)
    usable(rows, "kept")
    pid = rows.listener.backend_pid
    other_process(services, "SELECT pg_terminate_backend(%s)", pid)
    assert eventually(lambda: rows.listener.backend_pid != pid)
    # revoked while nobody listened (or just after): the memory starts empty when it is back
    other_process(
        services, "UPDATE oauth_access_tokens SET revoked_at = now() WHERE jti = %s", "kept"
    )
    assert eventually(lambda: rows.memory.on and rows.listener.backend_pid is not None)
    assert not usable(rows, "kept")


def test_without_the_triggers_the_memory_stays_off(services: Services, rows: _PostgresRows) -> None:
    with services.engine.begin() as connection:
        for table in ("oauth_access_tokens", "oauth_grants"):
            connection.exec_driver_sql(f"DROP TRIGGER {table}_revocation_notify ON {table}")
    seen = lookups(rows)
    new_token(services, "unguarded")
    assert usable(rows, "unguarded")
    assert eventually(lambda: rows.listener._thread is not None)
    rows.listener._thread.join(5)  # it gave up: no notification would ever come
    assert not rows.memory.on
    assert usable(rows, "unguarded") and usable(rows, "unguarded")
    assert len(seen) == 3


@pytest.fixture
def sqlite_rows(services: Services) -> Iterator[_SqliteRows]:
    yield from ledger_rows(
        services, _SqliteRows, "SQLite's counter of revocations (migration 0015)"
    )


def sqlite_lookups(rows: _SqliteRows) -> list[list[Any]]:
    """Record each token lookup that reaches the file (not the counter's reads)."""
    seen: list[list[Any]] = []
    query = rows.reader.query

    def counting(sql: str, parameters: Any) -> list[tuple[Any, ...]]:
        if "oauth_access_tokens" in sql:
            seen.append(list(parameters))
        return query(sql, parameters)

    rows.reader.query = counting  # type: ignore[method-assign]
    return seen


def another_connection(services: Services, sql: str, *parameters: Any) -> None:
    """A write through a connection of its own, as the CLI or another worker makes it."""
    database = services.engine.url.database
    assert database is not None
    other = sqlite3.connect(database, isolation_level=None)
    try:
        other.execute(sql, parameters)
    finally:
        other.close()


def test_sqlite_a_usable_token_is_looked_up_once(
    services: Services, sqlite_rows: _SqliteRows
) -> None:
    seen = sqlite_lookups(sqlite_rows)
    new_token(services, "once")
    assert all(usable(sqlite_rows, "once") for _ in range(3))
    assert sqlite_rows.memory.on
    assert not usable(sqlite_rows, "unknown") and not usable(sqlite_rows, "unknown")
    assert seen == [["once"], ["unknown"], ["unknown"]]


@pytest.mark.parametrize("what", ["token", "grant", "deleted", "this process"])
def test_sqlite_a_revocation_by_any_connection_is_seen_by_the_next_introspection(
    services: Services, sqlite_rows: _SqliteRows, what: str
) -> None:
    token_of_a_grant(services, "there")
    assert usable(sqlite_rows, "there") and sqlite_rows.memory.knows("there")
    if what == "this process":
        with transaction(services.sessions) as session:
            session.execute(
                update(AccessTokenRow)
                .where(AccessTokenRow.jti == "there")
                .values(revoked_at=services.idp.ctx.clock())
            )
    else:
        statement = {
            "token": "UPDATE oauth_access_tokens SET revoked_at = '2026-01-01' WHERE jti = ?",
            "grant": "UPDATE oauth_grants SET revoked_at = '2026-01-01' WHERE id = "
            "(SELECT grant_id FROM oauth_access_tokens WHERE jti = ?)",
            "deleted": "DELETE FROM oauth_access_tokens WHERE jti = ?",
        }[what]
        another_connection(services, statement, "there")
    assert not usable(sqlite_rows, "there")  # no waiting: the very next one


def test_sqlite_new_tokens_written_meanwhile_do_not_empty_the_memory(
    services: Services, sqlite_rows: _SqliteRows
) -> None:
    seen = sqlite_lookups(sqlite_rows)
    new_token(services, "kept")
    assert usable(sqlite_rows, "kept")
    new_token(services, "another")  # a commit by another connection, revoking nothing
    another_connection(
        services, "UPDATE oauth_access_tokens SET scope = 'x' WHERE jti = ?", "another"
    )
    assert usable(sqlite_rows, "kept") and usable(sqlite_rows, "kept")
    assert seen == [["kept"]]


def test_sqlite_a_new_reader_connection_starts_over(
    services: Services, sqlite_rows: _SqliteRows
) -> None:
    new_token(services, "before")
    assert usable(sqlite_rows, "before") and sqlite_rows.memory.knows("before")
    sqlite_rows.reader.close()  # as after an error: the next statement opens a new one
    another_connection(
        services, "UPDATE oauth_access_tokens SET revoked_at = '2026-01-01' WHERE jti = ?", "before"
    )
    assert not usable(sqlite_rows, "before")
    assert sqlite_rows.memory.on


def test_sqlite_without_the_counter_the_memory_stays_off(
    services: Services, sqlite_rows: _SqliteRows
) -> None:
    with services.engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER oauth_grants_deleted")
    seen = sqlite_lookups(sqlite_rows)
    new_token(services, "unguarded")
    assert all(usable(sqlite_rows, "unguarded") for _ in range(3))
    assert not sqlite_rows.memory.on
    assert len(seen) == 3


def test_told_not_to_remember_every_lookup_reads_the_row(services: Services) -> None:
    """``GOVTRUST_INTROSPECTION_REMEMBERS_USABLE_TOKENS=false``: a revocation by any process
    is seen at its commit, since nothing is remembered (and nobody listens)."""
    assert services.settings.introspection_remembers_usable_tokens is True
    ledger = AccessTokenLedger(services.sessions, remember_usable=False)
    try:
        rows = ledger._backend
        new_token(services, "every-time")
        if isinstance(rows, _SqliteRows):
            seen = sqlite_lookups(rows)
            assert all(usable(rows, "every-time") for _ in range(3))
            assert len(seen) == 3 and not rows.memory.on
            return
        seen_pg = lookups(rows)
        assert all(usable(rows, "every-time") for _ in range(3))
        assert len(seen_pg) == 3
        assert rows.listener._thread is None and not rows.memory.on
        assert rows._local_revocations is None  # nothing watches this process's statements
    finally:
        ledger.close()
