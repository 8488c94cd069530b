"""Group commit (core/db/batching.py): concurrent items share batches, each waiter gets its
own result or the batch's error, a cancelled waiter harms no one, and a closed runner takes
nothing more; and the access-token ledger (on SQLite built on it, on PostgreSQL on
core/db/loop_batching.py) stores rows all-or-nothing, survives a lost connection and
works where it should (thread or event loop)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.db.async_postgres import AsyncPostgres
from core.db.batching import BatchRunner, BatchRunnerClosed
from core.db.engine import BUSY_SECONDS
from core.services import Services
from idp.oauth.access_token_ledger import (
    AccessTokenLedger,
    AccessTokenRecord,
    _PostgresRows,
    _SqliteRows,
)
from idp.oauth.storage import AccessTokenRow


def test_concurrent_items_share_batches_and_get_their_own_results() -> None:
    sizes: list[int] = []
    release = threading.Event()

    def run(items: list[int]) -> list[int]:
        release.wait(5)  # hold the first batch so that the rest pile up behind it
        sizes.append(len(items))
        return [item * 10 for item in items]

    runner: BatchRunner[int, int] = BatchRunner("test", run, max_batch=64)

    async def main() -> list[int]:
        tasks = [asyncio.create_task(runner.submit(i)) for i in range(200)]
        await asyncio.sleep(0.05)
        release.set()
        return list(await asyncio.gather(*tasks))

    try:
        assert asyncio.run(main()) == [i * 10 for i in range(200)]
    finally:
        runner.close()
    assert sum(sizes) == 200
    assert len(sizes) < 200 and max(sizes) <= 64  # batched, never above the bound


def test_a_failed_batch_fails_every_waiter_and_the_runner_goes_on() -> None:
    calls: list[list[str]] = []

    def run(items: list[str]) -> list[str]:
        calls.append(items)
        if "bad" in items:
            raise RuntimeError("the database refused")
        return items

    runner: BatchRunner[str, str] = BatchRunner("test", run)

    async def main() -> None:
        with pytest.raises(RuntimeError, match="refused"):
            await runner.submit("bad")
        assert await runner.submit("good") == "good"

    try:
        asyncio.run(main())
    finally:
        runner.close()


def test_a_wrong_number_of_results_is_an_error_not_a_mixup() -> None:
    runner: BatchRunner[int, int] = BatchRunner("test", lambda items: [])

    async def main() -> None:
        with pytest.raises(RuntimeError, match="0 results for 1 items"):
            await runner.submit(1)

    try:
        asyncio.run(main())
    finally:
        runner.close()


def test_a_cancelled_waiter_does_not_disturb_the_others() -> None:
    started = threading.Event()
    release = threading.Event()

    def run(items: list[int]) -> list[int]:
        started.set()
        release.wait(5)
        return items

    runner: BatchRunner[int, int] = BatchRunner("test", run)

    async def main() -> None:
        first = asyncio.create_task(runner.submit(1))
        await asyncio.to_thread(started.wait, 5)
        second = asyncio.create_task(runner.submit(2))
        await asyncio.sleep(0)
        first.cancel()
        release.set()
        assert await second == 2
        with pytest.raises(asyncio.CancelledError):
            await first

    try:
        asyncio.run(main())
    finally:
        runner.close()


def test_a_closed_runner_takes_nothing_more() -> None:
    runner: BatchRunner[int, int] = BatchRunner("test", lambda items: items)

    async def one() -> int:
        return await runner.submit(7)

    assert asyncio.run(one()) == 7
    runner.close()
    with pytest.raises(BatchRunnerClosed):
        asyncio.run(one())


def test_a_closed_runner_stops_its_thread() -> None:
    runner: BatchRunner[int, int] = BatchRunner("test", lambda items: items)

    async def one() -> int:
        return await runner.submit(1)

    assert asyncio.run(one()) == 1
    thread = runner._thread
    assert thread is not None and thread.is_alive()
    runner.close()
    assert not thread.is_alive()


def record(services: Services, jti: str, client_id: str) -> AccessTokenRecord:
    now = services.idp.ctx.clock()
    return AccessTokenRecord(jti, client_id, client_id, "s", now, now + timedelta(minutes=5))


@pytest.fixture
def ledger(services: Services) -> Iterator[AccessTokenLedger]:
    """A ledger of its own on the test's services, as the provider builds it."""
    built = AccessTokenLedger(services.sessions)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def flushed(services: Services) -> Iterator[AccessTokenLedger]:
    """A ledger whose new rows wait for the disk (access_token_rows_flushed on)."""
    built = AccessTokenLedger(services.sessions, wait_for_flush=True)
    try:
        yield built
    finally:
        built.close()


def on_postgres(services: Services) -> bool:
    return services.engine.dialect.name == "postgresql"


def test_the_ledger_stores_a_batch_all_or_nothing(
    services: Services, ledger: AccessTokenLedger
) -> None:
    def count() -> int:
        with services.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(AccessTokenRow)) or 0)

    before = count()

    async def main() -> None:
        await asyncio.gather(*(ledger.record(record(services, f"j{i}", "c")) for i in range(20)))
        states = await asyncio.gather(ledger.usable("j3"), ledger.usable("nope"))
        assert states == [True, False]
        # one batch (one turn of the loop) holding a duplicate jti: none of it is stored
        outcomes = await asyncio.gather(
            ledger.record(record(services, "fresh", "c")),
            ledger.record(record(services, "j3", "c")),
            return_exceptions=True,
        )
        assert all(isinstance(outcome, IntegrityError) for outcome in outcomes)
        assert await ledger.usable("fresh") is False

    asyncio.run(main())
    assert count() == before + 20
    with services.sessions() as session:  # stored as the ORM stores it
        row = session.get(AccessTokenRow, "j3")
        assert row is not None
        assert row.issued_at == record(services, "j3", "c").issued_at
        assert row.issued_at.tzinfo is not None and row.revoked_at is None


def test_a_lost_connection_costs_one_batch(services: Services, ledger: AccessTokenLedger) -> None:
    """The writer's connection dies (PostgreSQL: its server process is terminated, as in a
    restart): that batch fails with SQLAlchemy's error, the next one opens a new
    connection."""

    async def main() -> None:
        await ledger.record(record(services, "before", "c"))
        await lose_the_writers_connection(services, ledger)
        with pytest.raises(DBAPIError):
            await ledger.record(record(services, "lost", "c"))
        await ledger.record(record(services, "after", "c"))
        states = await asyncio.gather(*(ledger.usable(j) for j in ("before", "lost", "after")))
        assert states == [True, False, True]

    asyncio.run(main())


async def lose_the_writers_connection(services: Services, ledger: AccessTokenLedger) -> None:
    rows = ledger._backend
    if isinstance(rows, _PostgresRows):
        (connection,) = rows.writes._states[asyncio.get_running_loop()].idle
        with services.engine.connect() as admin:
            admin.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": connection.backend_pid}
            )
    else:
        held = rows._writer._connection
        assert held is not None
        held.driver_connection.close()  # type: ignore[union-attr]


async def synchronous_commit(connections: AsyncPostgres) -> str:
    connection = await connections.connect()
    try:
        ((setting,),) = await connections.execute(connection, "SHOW synchronous_commit", [])
        return str(setting)
    finally:
        connections.discard(connection)


def test_the_ledger_waits_for_the_disk_only_when_told_to(
    services: Services, flushed: AccessTokenLedger
) -> None:
    """PostgreSQL: by default (``access_token_rows_flushed`` off) the provider's ledger's
    writers alone turn ``synchronous_commit`` off, and its readers and every other
    connection keep the server's setting; told to, its writers wait for the WAL flush of new
    rows, as every other write does."""
    if not on_postgres(services):
        pytest.skip("synchronous_commit is PostgreSQL's; SQLite runs WAL + synchronous=NORMAL")
    assert services.settings.access_token_rows_flushed is False
    default, told = services.idp.access_tokens._backend, flushed._backend
    assert isinstance(default, _PostgresRows) and isinstance(told, _PostgresRows)
    assert asyncio.run(synchronous_commit(default.write_connections)) == "off"
    assert asyncio.run(synchronous_commit(told.write_connections)) == "on"
    assert default.reader.execute("SHOW synchronous_commit", []) == [("on",)]
    with services.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


def test_a_row_written_without_waiting_for_the_disk_is_visible_at_once(
    services: Services,
) -> None:
    """The default (not waiting for the disk): committed before ``record`` returns, so
    another connection (another worker) finds it."""
    asyncio.run(services.idp.access_tokens.record(record(services, "seen-at-once", "c")))
    with services.sessions() as session:
        assert session.get(AccessTokenRow, "seen-at-once") is not None


def test_where_the_ledger_works(services: Services, ledger: AccessTokenLedger) -> None:
    """PostgreSQL: writes from the event loop over asynchronous connections (no thread),
    reads on a thread. SQLite: writes on a thread (a writer may wait for the one write
    lock), reads on the loop (a lookup costs less than a hand-off to a thread)."""

    async def main() -> list[bool]:
        await ledger.record(record(services, "looked-up", "c"))
        return list(await asyncio.gather(ledger.usable("looked-up"), ledger.usable("nope")))

    threads_before = set(threading.enumerate())
    assert asyncio.run(main()) == [True, False]
    started = {thread.name for thread in set(threading.enumerate()) - threads_before}
    rows = ledger._backend
    if on_postgres(services):
        assert isinstance(rows, _PostgresRows)
        # the read thread, and the listener that keeps the memory of usable tokens right
        assert started == {
            "govtrust-batch-access-token-reads",
            "govtrust-listen-govtrust_token_revocations",
        }
    else:
        assert isinstance(rows, _SqliteRows)
        assert started == {"govtrust-batch-access-token-writes"}


def test_a_read_on_the_event_loop_never_waits_for_a_lock(
    services: Services, ledger: AccessTokenLedger
) -> None:
    """SQLite: the connection that reads on the loop has no busy timeout (a read that would
    have to wait for a lock fails at once and the hot path leaves the request to the
    general path, tests/idp/test_oauth_hot_path.py) where every other connection waits up
    to the engine's 10 s."""
    rows = ledger._backend
    if not isinstance(rows, _SqliteRows):
        pytest.skip("reads on the event loop's own file are SQLite's")
    assert rows.reader.execute("PRAGMA busy_timeout", []) == [(0,)]
    assert rows._writer.execute("PRAGMA busy_timeout", []) == [(BUSY_SECONDS * 1000,)]


def test_a_ledger_may_be_closed_twice(services: Services) -> None:
    """The application's shutdown and its owner may both close the services."""
    built = AccessTokenLedger(services.sessions)

    async def use() -> bool:
        await built.record(record(services, "closed-twice", "c"))
        return await built.usable("closed-twice")

    assert asyncio.run(use())
    built.close()
    built.close()
