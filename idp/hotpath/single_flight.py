"""One load at a time per key and event loop, on a thread, whose result every request that
asked for it meanwhile shares ("single flight").

The hot path reads what it needs (a client's registration, the token key, the published
keys) from short-lived caches. When an entry is missing (first use, or its few seconds are
over after a quiet spell), the requests of that moment wait for one read on a thread
instead of each reading it, or all going to the general path together: under a burst of
connections that took as many pooled database connections at once as there were requests
in flight, and PostgreSQL refused the rest ("too many clients", ``bench/PROFILE.md``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class SingleFlight(Generic[V]):
    def __init__(self) -> None:
        self._loading: dict[tuple[asyncio.AbstractEventLoop, Hashable], asyncio.Task[V]] = {}

    async def get(self, key: Hashable, load: Callable[[], V]) -> V:
        """``load()``'s result, run on a thread unless a load of ``key`` is in flight on
        this loop, in which case its result (or its exception)."""
        loop = asyncio.get_running_loop()
        flight = (loop, key)
        task = self._loading.get(flight)
        if task is None:
            task = loop.create_task(asyncio.to_thread(load))
            self._loading[flight] = task
            task.add_done_callback(lambda _: self._loading.pop(flight, None))
        return await asyncio.shield(task)  # one waiter cancelled leaves the load to the rest
