"""Group commit: small units of work from many requests run together on one thread.

A request on the event loop hands its item to :meth:`BatchRunner.submit` and awaits the
outcome. The items of one turn of the event loop go to a dedicated thread together, which
takes every item waiting at that moment and runs them (``max_batch`` at a time) with one
call of ``run``, typically one transaction. The request still waits until its own batch
has finished (committed, for a write), so nothing is acknowledged that is not stored: the
durability of one transaction per request, at the cost of one thread hand-off and one
``BEGIN``/``COMMIT`` per batch instead of per request (what databases call group commit).

If ``run`` raises, every request of the batch gets the exception; ``run`` must therefore be
all-or-nothing (one transaction) so that a failed batch leaves nothing half-written.

(Where several batches should be in flight at once, on PostgreSQL, the hot path sends them
from the event loop instead: :mod:`core.db.loop_batching`.)
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)

MAX_BATCH = 256


class BatchRunnerClosed(RuntimeError):
    """The runner was closed: nothing more is taken."""


_Entry = tuple[T, "asyncio.Future[R]", asyncio.AbstractEventLoop]


def _settle(entries: list[tuple[asyncio.Future[R], R | None]], error: BaseException | None) -> None:
    """On the event loop: hand each waiting request its result (or the batch's error)."""
    for future, result in entries:
        if future.done():  # the request was cancelled (its client went away)
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]


class BatchRunner(Generic[T, R]):
    """Runs ``run(items) -> results`` (one result per item, in order) on its own thread."""

    def __init__(
        self, name: str, run: Callable[[list[T]], Sequence[R]], *, max_batch: int = MAX_BATCH
    ) -> None:
        self.name = name
        self._run = run
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[list[_Entry[T, R]] | None] = queue.SimpleQueue()
        self._gathering: dict[asyncio.AbstractEventLoop, list[_Entry[T, R]]] = {}
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for the batch that carries it to finish.

        Items submitted during one turn of the event loop travel to the thread together
        (one hand-off), at the end of that turn; items that arrive while the thread is busy
        wait for its next batch."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._start()
        gathering = self._gathering.get(loop)
        if gathering is None:
            gathering = self._gathering[loop] = []
            loop.call_soon(self._hand_over, loop)
        gathering.append((item, future, loop))
        return await future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        self._queue.put(self._gathering.pop(loop))

    def _start(self) -> None:
        if self._closed:
            raise BatchRunnerClosed(self.name)
        if self._thread is not None:
            return
        with self._lock:
            if self._closed:
                raise BatchRunnerClosed(self.name)
            if self._thread is None:
                thread = threading.Thread(
                    target=self._work, name=f"govtrust-batch-{self.name}", daemon=True
                )
                thread.start()
                self._thread = thread

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = first
            stop = False
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.extend(more)
            for start in range(0, len(batch), self._max_batch):
                self._finish(batch[start : start + self._max_batch])
            if stop:
                return

    def _finish(self, batch: list[_Entry[T, R]]) -> None:
        error: BaseException | None = None
        results: Sequence[R | None]
        try:
            results = self._run([item for item, _, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(batch)} items")
        except Exception as exc:  # every waiting request gets it; the thread goes on
            log.warning("%s: a batch of %d failed: %s", self.name, len(batch), exc)
            error, results = exc, [None] * len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[R], R | None]]] = {}
        for (_, future, loop), result in zip(batch, results, strict=True):
            by_loop.setdefault(loop, []).append((future, result))
        for loop, entries in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, entries, error)
            except RuntimeError:  # that event loop has closed: nobody is waiting any more
                continue

    def close(self, timeout: float = 5.0) -> None:
        """Finish what is queued, then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)
