"""Group commit on the event loop (core/db/loop_batching.py): concurrent items share
batches sent over at most ``connections`` connections of the loop, each waiter gets its
own result or its batch's error, a failed connection is replaced, a cancelled waiter harms
no one, a closed runner takes nothing more and leaves no connection open, and the
connections of a loop that has closed are discarded. Fake connections: what is checked
here is the runner; the ledger's rows on real databases are in test_group_commit.py."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence

import pytest

from core.db.batching import BatchRunnerClosed
from core.db.loop_batching import LoopBatches


class Connections:
    """Numbered fake connections; records which were opened and which discarded."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self.opened: list[int] = []
        self.discarded: list[int] = []

    async def connect(self) -> int:
        number = next(self._numbers)
        self.opened.append(number)
        return number

    def discard(self, connection: int) -> None:
        self.discarded.append(connection)

    @property
    def open(self) -> set[int]:
        return set(self.opened) - set(self.discarded)


def runner(
    fakes: Connections,
    run: Callable[[int, list[int]], Awaitable[Sequence[int]]],
    **options: int,
) -> LoopBatches[int, int, int]:
    return LoopBatches("test", connect=fakes.connect, run=run, discard=fakes.discard, **options)


def test_concurrent_items_share_batches_and_get_their_own_results() -> None:
    connections = Connections()
    sizes: list[int] = []
    release = asyncio.Event()

    async def run(_connection: int, items: list[int]) -> list[int]:
        await release.wait()  # hold the first batches so that the rest pile up behind them
        sizes.append(len(items))
        return [item * 10 for item in items]

    batches = runner(connections, run, connections=2, max_batch=64)

    async def main() -> list[int]:
        first = [asyncio.create_task(batches.submit(i)) for i in range(100)]
        await asyncio.sleep(0.01)  # two batches are in flight, the rest wait
        rest = [asyncio.create_task(batches.submit(i)) for i in range(100, 200)]
        await asyncio.sleep(0.01)
        release.set()
        return list(await asyncio.gather(*first, *rest))

    try:
        assert asyncio.run(main()) == [i * 10 for i in range(200)]
    finally:
        batches.close()
    assert sum(sizes) == 200
    assert sizes[:2] == [64, 36]  # one turn's 100 items: two batches, on both connections
    assert len(sizes) < 10 and max(sizes) <= 64  # the waiting ones went together
    assert connections.opened == [1, 2]  # never more than two, reused
    assert connections.open == set()  # closed: none left open


def test_two_connections_keep_two_batches_in_flight_and_one_keeps_one() -> None:
    for allowed in (1, 2):
        connections = Connections()
        inside = 0
        most = 0

        async def run(_connection: int, items: list[int]) -> list[int]:
            nonlocal inside, most
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)  # waiting for the database
            inside -= 1
            return items

        batches = runner(connections, run, connections=allowed)

        async def main(batches: LoopBatches[int, int, int] = batches) -> list[int]:
            tasks = []
            for i in range(6):  # one item per turn of the loop
                tasks.append(asyncio.create_task(batches.submit(i)))
                await asyncio.sleep(0)
            return list(await asyncio.gather(*tasks))

        try:
            assert asyncio.run(main()) == list(range(6))
        finally:
            batches.close()
        assert most == allowed
        assert len(connections.opened) == allowed


def test_a_failed_batch_fails_its_waiters_and_a_new_connection_carries_the_next() -> None:
    connections = Connections()

    async def run(connection: int, items: list[int]) -> list[int]:
        if -1 in items:
            raise RuntimeError(f"connection {connection} lost")
        return items

    batches = runner(connections, run)

    async def main() -> None:
        assert await batches.submit(1) == 1
        with pytest.raises(RuntimeError, match="connection 1 lost"):
            await asyncio.gather(batches.submit(2), batches.submit(-1))
        assert await batches.submit(3) == 3

    try:
        asyncio.run(main())
    finally:
        batches.close()
    assert connections.opened == [1, 2]
    assert connections.discarded[0] == 1  # the failed one at once


def test_a_connection_that_cannot_be_opened_fails_the_batch_only() -> None:
    connections = Connections()
    refuse = True

    async def connect() -> int:
        if refuse:
            raise ConnectionRefusedError("the database is down")
        return await connections.connect()

    async def run(_connection: int, items: list[int]) -> list[int]:
        return items

    batches: LoopBatches[int, int, int] = LoopBatches(
        "test", connect=connect, run=run, discard=connections.discard
    )

    async def main() -> None:
        nonlocal refuse
        with pytest.raises(ConnectionRefusedError):
            await batches.submit(1)
        refuse = False
        assert await batches.submit(2) == 2

    try:
        asyncio.run(main())
    finally:
        batches.close()


def test_a_wrong_number_of_results_is_an_error_not_a_mixup() -> None:
    async def run(_connection: int, items: list[int]) -> list[int]:
        return []

    batches = runner(Connections(), run)

    async def main() -> None:
        with pytest.raises(RuntimeError, match="0 results for 1 items"):
            await batches.submit(1)

    try:
        asyncio.run(main())
    finally:
        batches.close()


def test_a_cancelled_waiter_does_not_disturb_the_others() -> None:
    release = asyncio.Event()

    async def run(_connection: int, items: list[int]) -> list[int]:
        await release.wait()
        return items

    batches = runner(Connections(), run)

    async def main() -> None:
        first = asyncio.create_task(batches.submit(1))
        second = asyncio.create_task(batches.submit(2))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # both in one batch, in flight
        first.cancel()
        release.set()
        assert await second == 2
        with pytest.raises(asyncio.CancelledError):
            await first

    try:
        asyncio.run(main())
    finally:
        batches.close()


def test_a_closed_runner_takes_nothing_more_and_fails_the_waiting() -> None:
    connections = Connections()
    release = asyncio.Event()

    async def run(_connection: int, items: list[int]) -> list[int]:
        await release.wait()
        return items

    batches = runner(connections, run)

    async def main() -> None:
        in_flight = asyncio.create_task(batches.submit(1))
        await asyncio.sleep(0.01)
        waiting = asyncio.create_task(batches.submit(2))  # behind the only connection
        await asyncio.sleep(0.01)
        batches.close()
        with pytest.raises(BatchRunnerClosed):
            await waiting
        release.set()
        assert await in_flight == 1  # what was sent finishes
        with pytest.raises(BatchRunnerClosed):
            await batches.submit(3)

    asyncio.run(main())
    assert connections.opened == [1]
    assert connections.open == set()  # the one in flight discarded when it finished


def test_the_connections_of_a_closed_loop_are_discarded_when_the_next_loop_comes() -> None:
    """A connection belongs to the loop it was opened on (a test client's loop ends after
    each request): the next loop opens its own and the old ones are closed."""
    connections = Connections()

    async def run(connection: int, items: list[int]) -> list[int]:
        return [connection for _ in items]

    batches = runner(connections, run)

    async def one() -> int:
        return await batches.submit(0)

    try:
        assert asyncio.run(one()) == 1
        assert asyncio.run(one()) == 2
        assert connections.discarded == [1]
        assert asyncio.run(one()) == 3
        assert connections.discarded == [1, 2]
    finally:
        batches.close()
    assert connections.open == set()
