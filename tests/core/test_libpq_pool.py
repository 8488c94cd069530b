"""A few libpq connections per event loop (core/db/libpq_pool.py): statements run side by
side on at most ``size`` connections, the others wait their turn, first come first served; a
connection whose
statement failed or was lost is discarded and the next statement gets a new one; once
closed, the pool takes nothing more. PostgreSQL only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from core.db.async_postgres import AsyncPostgres
from core.db.batching import BatchRunnerClosed
from core.db.libpq_pool import LibpqPool
from core.services import Services

PID = "SELECT pg_backend_pid()"
SLOW_PID = "SELECT pg_backend_pid() FROM pg_sleep(0.05)"


@pytest.fixture
def backend() -> str:
    return "real"  # PostgreSQL + Redis only (tests/conftest.py)


@pytest.fixture
def pool(services: Services) -> LibpqPool:
    assert services.engine.dialect.name == "postgresql"
    return LibpqPool("test", AsyncPostgres(services.engine), size=2)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


async def pid(pool: LibpqPool, sql: str = PID) -> int:
    rows = await pool.query("pid" if sql == PID else "slow_pid", sql, [])
    return int(rows[0][0])


def test_statements_share_at_most_size_connections_and_reuse_them(pool: LibpqPool) -> None:
    async def main() -> None:
        pids = await asyncio.gather(*(pid(pool, SLOW_PID) for _ in range(6)))
        assert len(set(pids)) == 2  # six statements, two at a time
        assert await pid(pool) in pids  # an idle one is used again

    run(main)
    pool.close()


def test_a_failed_statement_s_connection_is_discarded(pool: LibpqPool) -> None:
    async def main() -> None:
        first = await pid(pool)
        with pytest.raises(DBAPIError, match="division by zero"):
            await pool.query("divide", "SELECT 1 / %s", [0])
        assert await pid(pool) != first  # a new connection

    run(main)
    pool.close()


def test_a_lost_connection_raises_once_and_the_next_statement_gets_a_new_one(
    services: Services, pool: LibpqPool
) -> None:
    async def main() -> None:
        lost = await pid(pool)
        with services.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost})
        await asyncio.sleep(0.2)
        with pytest.raises(OperationalError):
            await pid(pool)
        assert await pid(pool) != lost

    run(main)
    pool.close()


def test_a_connection_that_comes_back_goes_to_the_statement_that_waited_longest(
    services: Services,
) -> None:
    """One connection: a statement sent right after another's finished waits behind those
    already waiting, rather than taking the connection before they can."""
    pool = LibpqPool("test", AsyncPostgres(services.engine), size=1)
    order: list[str] = []

    async def main() -> None:
        async def statement(label: str, sql: str = PID) -> None:
            await pid(pool, sql)
            order.append(label)

        async def twice() -> None:
            await statement("first", SLOW_PID)
            await statement("again")  # sent as soon as the first is done

        holder = asyncio.create_task(twice())
        await asyncio.sleep(0.01)
        waiting = [asyncio.create_task(statement(label)) for label in ("a", "b")]
        await asyncio.wait_for(asyncio.gather(holder, *waiting), 5)

    run(main)
    pool.close()
    assert order == ["first", "a", "b", "again"]


def test_a_statement_woken_then_cancelled_passes_its_turn_on(services: Services) -> None:
    """One connection: the statement it is handed to next is cancelled before it runs; the
    one waiting behind it gets the connection instead of waiting for ever."""
    pool = LibpqPool("test", AsyncPostgres(services.engine), size=1)

    async def main() -> None:
        async def holder() -> int:
            held = await pid(pool, SLOW_PID)
            woken.cancel()  # its turn came with this release; it has not run yet
            return held

        holding = asyncio.create_task(holder())
        await asyncio.sleep(0.01)
        woken = asyncio.create_task(pid(pool))
        await asyncio.sleep(0.01)
        behind = asyncio.create_task(pid(pool))
        await asyncio.sleep(0.01)
        assert await asyncio.wait_for(behind, 5) == await holding
        assert woken.cancelled()

    run(main)
    pool.close()


def test_a_closed_pool_takes_nothing_more_and_releases_its_waiters(pool: LibpqPool) -> None:
    async def main() -> None:
        busy = [asyncio.create_task(pid(pool, SLOW_PID)) for _ in range(2)]
        await asyncio.sleep(0.01)
        waiting = asyncio.create_task(pid(pool))
        await asyncio.sleep(0.01)
        await asyncio.to_thread(pool.close)  # as the service's shutdown may, from a thread
        await asyncio.gather(*busy)  # statements in flight finish
        with pytest.raises(BatchRunnerClosed):
            await waiting
        with pytest.raises(BatchRunnerClosed):
            await pid(pool)

    run(main)


def test_size_must_be_positive(services: Services) -> None:
    with pytest.raises(ValueError):
        LibpqPool("test", AsyncPostgres(services.engine), size=0)
