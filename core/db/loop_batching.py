"""Group commit on the event loop itself: batches sent over asynchronous connections.

:class:`~core.db.batching.BatchRunner` hands each batch to a thread. On PostgreSQL that
hand-off (waking the thread, the event loop's self-pipe on the way back, the GIL passed
between the two) cost more CPU than the statement itself (``bench/PROFILE.md``). Here a
batch is sent from the event loop over an asynchronous connection, and the loop goes on
with other requests while the database answers.

The contract is :class:`~core.db.batching.BatchRunner`'s: :meth:`LoopBatches.submit` returns
once the batch that carries the item has finished (committed, for a write), so nothing is
acknowledged that is not stored; the items submitted during one turn of the event loop go
together; ``run`` must be all-or-nothing (one statement or one transaction), and if it
raises, every request of the batch gets the exception.

Each event loop has its own connections (a connection belongs to the loop it was opened
on), at most ``connections`` of them, each carrying one batch at a time: while all are
busy, new items wait and then go together in the next batch. A connection whose batch
failed is discarded and the next batch opens a new one, so a database restart costs the
batches in flight and no more. The connections of a loop that has closed (a test client's)
are discarded when the next loop comes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from core.db.batching import MAX_BATCH, BatchRunnerClosed

C = TypeVar("C")
T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


@dataclass
class _LoopState(Generic[C, T, R]):
    pending: list[tuple[T, asyncio.Future[R]]] = field(default_factory=list)
    idle: list[C] = field(default_factory=list)
    busy: int = 0
    scheduled: bool = False
    sending: set[asyncio.Task[None]] = field(default_factory=set)


class LoopBatches(Generic[C, T, R]):
    """Runs ``await run(connection, items) -> results`` (one result per item, in order)."""

    def __init__(
        self,
        name: str,
        *,
        connect: Callable[[], Awaitable[C]],
        run: Callable[[C, list[T]], Awaitable[Sequence[R]]],
        discard: Callable[[C], None],
        connections: int = 1,
        max_batch: int = MAX_BATCH,
    ) -> None:
        if connections < 1:
            raise ValueError("connections must be at least 1")
        self.name = name
        self._connect = connect
        self._run = run
        self._discard = discard
        self._connections = connections
        self._max_batch = max_batch
        self._states: dict[asyncio.AbstractEventLoop, _LoopState[C, T, R]] = {}
        self._closed = False

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for the batch that carries it to finish."""
        if self._closed:
            raise BatchRunnerClosed(self.name)
        loop = asyncio.get_running_loop()
        state = self._states.get(loop) or self._new_state(loop)
        future: asyncio.Future[R] = loop.create_future()
        state.pending.append((item, future))
        if not state.scheduled:  # at the end of this turn of the loop
            state.scheduled = True
            loop.call_soon(self._dispatch, loop, state)
        return await future

    def _new_state(self, loop: asyncio.AbstractEventLoop) -> _LoopState[C, T, R]:
        for old_loop in [old for old in self._states if old.is_closed()]:
            for connection in self._states.pop(old_loop).idle:
                self._discard(connection)
        state = self._states[loop] = _LoopState()
        return state

    def _dispatch(self, loop: asyncio.AbstractEventLoop, state: _LoopState[C, T, R]) -> None:
        state.scheduled = False
        while state.pending and state.busy < self._connections:
            batch = state.pending[: self._max_batch]
            del state.pending[: self._max_batch]
            state.busy += 1
            task = loop.create_task(self._send(loop, state, batch))
            state.sending.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(state.sending.discard)

    async def _send(
        self,
        loop: asyncio.AbstractEventLoop,
        state: _LoopState[C, T, R],
        batch: list[tuple[T, asyncio.Future[R]]],
    ) -> None:
        try:
            results = await self._run_on_a_connection(state, [item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(batch)} items")
        except BaseException as exc:
            if not isinstance(exc, Exception):  # cancelled: the loop is shutting down
                _settle(batch, None, BatchRunnerClosed(self.name))
                raise
            log.warning("%s: a batch of %d failed: %s", self.name, len(batch), exc)
            _settle(batch, None, exc)
        else:
            _settle(batch, results, None)
        finally:
            state.busy -= 1
            if state.pending and not self._closed:  # they waited for a connection
                self._dispatch(loop, state)

    async def _run_on_a_connection(self, state: _LoopState[C, T, R], items: list[T]) -> Sequence[R]:
        connection = state.idle.pop() if state.idle else await self._connect()
        try:
            results = await self._run(connection, items)
        except BaseException:
            self._discard(connection)
            raise
        if self._closed:
            self._discard(connection)
        else:
            state.idle.append(connection)
        return results

    def close(self) -> None:
        """Take nothing more; discard the idle connections (a batch in flight discards its
        own when it finishes). May be called from any thread."""
        self._closed = True
        for state in self._states.values():
            while state.idle:
                self._discard(state.idle.pop())
            for _, future in state.pending:
                with suppress(RuntimeError):  # that loop has closed: nobody is waiting
                    future.get_loop().call_soon_threadsafe(_fail, future, self.name)
            state.pending.clear()
        self._states.clear()


def _settle(
    batch: list[tuple[T, asyncio.Future[R]]],
    results: Sequence[R] | None,
    error: BaseException | None,
) -> None:
    for index, (_, future) in enumerate(batch):
        if future.done():  # the request was cancelled (its client went away)
            continue
        if error is not None or results is None:
            future.set_exception(error or RuntimeError("no result"))
        else:
            future.set_result(results[index])


def _fail(future: asyncio.Future[R], name: str) -> None:
    if not future.done():
        future.set_exception(BatchRunnerClosed(name))
