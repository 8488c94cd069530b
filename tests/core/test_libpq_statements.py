"""Prepared statements through libpq from the event loop (core/db/libpq_statements.py):
rows stored exactly as the ORM stores them, a failed statement raises SQLAlchemy's error
and leaves the connection usable, a lost connection raises and can be discarded, and
parameters without an unambiguous text form are refused. PostgreSQL only."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.db import libpq_statements
from core.db.async_postgres import AsyncPostgres
from core.db.driver_connection import driver_converters
from core.db.libpq_statements import LibpqConnection, numbered, text_parameter
from core.services import Services
from idp.oauth.access_token_ledger import COLUMNS, TOKENS, AccessTokenRecord, insert_sql
from idp.oauth.storage import AccessTokenRow


@pytest.fixture
def backend() -> str:
    return "real"  # PostgreSQL + Redis only (tests/conftest.py)


@pytest.fixture
def postgres(services: Services) -> Services:
    assert services.engine.dialect.name == "postgresql"
    return services


@asynccontextmanager
async def libpq(services: Services) -> AsyncIterator[LibpqConnection]:
    connection = await LibpqConnection.open(AsyncPostgres(services.engine))
    try:
        yield connection
    finally:
        connection.discard()


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


def records(services: Services, *jtis: str) -> list[AccessTokenRecord]:
    now = services.idp.ctx.clock()
    return [
        AccessTokenRecord(
            jti, "客户端-1", "主体", "证照:read 证照:share", now, now + timedelta(minutes=5)
        )
        for jti in jtis
    ]


async def insert(
    connection: LibpqConnection, services: Services, rows: list[AccessTokenRecord]
) -> None:
    convert = driver_converters(services.engine, TOKENS, COLUMNS)
    parameters = [c(getattr(r, col)) for r in rows for col, c in zip(COLUMNS, convert, strict=True)]
    await connection.execute_prepared(f"t{len(rows)}", insert_sql("%s", len(rows)), parameters)


def stored(services: Services) -> dict[str, AccessTokenRow]:
    with services.sessions() as session:
        return {row.jti: row for row in session.scalars(select(AccessTokenRow))}


def test_rows_read_back_as_the_orm_stores_them(postgres: Services) -> None:
    wanted = records(postgres, "a", "b", "c")

    async def main() -> None:
        async with libpq(postgres) as connection:
            await insert(connection, postgres, wanted[:2])
            await insert(connection, postgres, wanted[2:])  # another statement, prepared too

    run(main)
    rows = stored(postgres)
    assert sorted(rows) == ["a", "b", "c"]
    for record in wanted:
        row = rows[record.jti]
        assert (row.client_id, row.subject, row.scope) == (
            record.client_id,
            record.subject,
            record.scope,
        )
        assert (row.issued_at, row.expires_at) == (record.issued_at, record.expires_at)
        assert row.grant_id is None and row.dpop_jkt is None and row.revoked_at is None


def test_returned_rows_are_the_driver_s_and_counts_are_the_rows_touched(
    postgres: Services,
) -> None:
    """A ``SELECT``'s rows come back as psycopg's cursor gives them (aware times, NULLs,
    UTF-8 text); a statement's count is the rows it inserted, changed or returned."""
    wanted = records(postgres, "甲", "乙")
    sql = f"SELECT jti, subject, issued_at, revoked_at FROM {TOKENS.name} WHERE jti = %s"

    async def main() -> None:
        async with libpq(postgres) as connection:
            await insert(connection, postgres, wanted)
            mine = await connection.query_prepared("select_token", sql, ["甲"])
            cursor = await AsyncPostgres(postgres.engine).connect()
            try:
                theirs = await AsyncPostgres(postgres.engine).execute(cursor, sql, ["甲"])
            finally:
                AsyncPostgres.discard(cursor)
            assert mine == theirs == [("甲", "主体", wanted[0].issued_at, None)]
            assert mine[0][2].utcoffset() is not None
            assert await connection.query_prepared("select_token", sql, ["丙"]) == []
            revoke = f"UPDATE {TOKENS.name} SET revoked_at = issued_at WHERE jti = %s"
            assert await connection.execute_prepared("revoke", revoke, ["乙"]) == 1
            assert await connection.execute_prepared("revoke", revoke, ["丙"]) == 0

    run(main)
    assert stored(postgres)["乙"].revoked_at == wanted[1].issued_at


def test_a_failed_statement_raises_the_driver_s_error_and_the_connection_goes_on(
    postgres: Services,
) -> None:
    async def main() -> None:
        async with libpq(postgres) as connection:
            await insert(connection, postgres, records(postgres, "taken"))
            with pytest.raises(IntegrityError, match="duplicate key"):
                await insert(connection, postgres, records(postgres, "new", "taken"))
            await insert(connection, postgres, records(postgres, "after"))

    run(main)
    assert sorted(stored(postgres)) == ["after", "taken"]  # "new" went with its statement


def test_a_lost_connection_raises_and_is_discarded(postgres: Services) -> None:
    async def main() -> None:
        async with libpq(postgres) as connection:
            with postgres.engine.connect() as admin:
                admin.execute(
                    text("SELECT pg_terminate_backend(:pid)"), {"pid": connection.backend_pid}
                )
            await asyncio.sleep(0.2)  # idle: the end of its socket seen once, then unwatched
            assert not asyncio.get_running_loop().remove_reader(connection._fd)
            with pytest.raises(DBAPIError):
                await insert(connection, postgres, records(postgres, "lost"))

    run(main)
    assert stored(postgres) == {}


def test_a_lost_connection_s_descriptor_reused_by_a_new_one_is_left_to_it(
    postgres: Services,
) -> None:
    """libpq closes the socket of a lost connection at once; the next connection opened may
    get the same descriptor number. Discarding the lost one afterwards must not stop the
    loop watching the new one's socket: its statements would wait for ever (a PostgreSQL
    restart under load once hung every client-credentials request this way)."""

    async def main() -> None:
        lost = await LibpqConnection.open(AsyncPostgres(postgres.engine))
        with postgres.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost.backend_pid})
        with pytest.raises(DBAPIError):
            await insert(lost, postgres, records(postgres, "lost"))
        with pytest.raises(OSError):
            os.fstat(lost._fd)  # closed by libpq: its number is free
        opened = []
        for _ in range(20):  # the lowest free number is taken first
            opened.append(await LibpqConnection.open(AsyncPostgres(postgres.engine)))
            if opened[-1]._fd == lost._fd:
                break
        reusing = opened[-1]
        assert reusing._fd == lost._fd
        lost.discard()
        try:
            await asyncio.wait_for(insert(reusing, postgres, records(postgres, "after")), 5)
        finally:
            for connection in opened:
                connection.discard()

    run(main)
    assert sorted(stored(postgres)) == ["after"]


def test_an_answer_that_does_not_come_is_an_error_not_a_wait_for_ever(
    postgres: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(libpq_statements, "ANSWER_SECONDS", 0.3)

    async def main() -> None:
        async with libpq(postgres) as connection:
            started = asyncio.get_running_loop().time()
            with pytest.raises(DBAPIError, match=r"no answer from the server within 0\.3 s"):
                await connection.query_prepared("slow", "SELECT pg_sleep(%s)", ["3"])
            assert asyncio.get_running_loop().time() - started < 2
            # its answer may still come: the connection takes no other statement
            with pytest.raises(DBAPIError, match="no answer"):
                await insert(connection, postgres, records(postgres, "after"))
        async with libpq(postgres) as connection:  # a new one answers
            await insert(connection, postgres, records(postgres, "new"))

    run(main)
    assert sorted(stored(postgres)) == ["new"]


def test_a_connection_discarded_from_another_thread_leaves_the_loop(postgres: Services) -> None:
    async def main() -> None:
        connection = await LibpqConnection.open(AsyncPostgres(postgres.engine))
        fd = connection._fd
        await asyncio.to_thread(connection.discard)  # as LoopBatches.close may
        await asyncio.sleep(0.05)
        assert not asyncio.get_running_loop().remove_reader(fd)  # already removed

    run(main)


def test_parameters_have_one_text_form_or_none() -> None:
    aware = datetime(2026, 11, 28, 10, 30, tzinfo=UTC)
    assert text_parameter(aware) == b"2026-11-28T10:30:00+00:00"
    assert text_parameter("证照") == "证照".encode()
    assert text_parameter(None) is None
    assert text_parameter(42) == b"42"
    for refused in (datetime(2026, 11, 28, 10, 30), True, 1.5, b"raw"):
        with pytest.raises(TypeError):
            text_parameter(refused)
    assert numbered("VALUES (%s, %s), (%s, %s)") == "VALUES ($1, $2), ($3, $4)"
