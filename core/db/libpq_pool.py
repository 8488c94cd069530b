"""A few :class:`~core.db.libpq_statements.LibpqConnection` per event loop, for statements
sent one at a time from the event loop (a refresh token's read, then its rotation:
:mod:`idp.oauth.refresh_rotation`).

:class:`~core.db.loop_batching.LoopBatches` sends the items of one turn of the loop together,
in one statement whose failure fails them all; that suits rows that are all-or-nothing
anyway, not statements each with its own outcome. Here each statement is sent on its own,
on an idle connection of the running loop, or a new one while the loop has fewer than
``size``; beyond that, a statement waits for a connection to come back, and a connection
that comes back goes to the statement that has waited longest. A connection whose
statement raised is discarded (a lost one could not be reused, a failed one is not worth
telling apart), so a database restart costs the statements in flight and no more. The
connections of a loop that has closed (a test client's) are discarded when the next loop
comes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from core.db.async_postgres import AsyncPostgres
from core.db.batching import BatchRunnerClosed
from core.db.libpq_statements import LibpqConnection


@dataclass
class _LoopConnections:
    idle: list[LibpqConnection] = field(default_factory=list)
    opened: int = 0  # idle, in use or being opened
    # statements waiting, first come first served: each is handed a connection, or None
    # when a place is freed (it may open one)
    waiting: deque[asyncio.Future[LibpqConnection | None]] = field(default_factory=deque)


class LibpqPool:
    """At most ``size`` connections per event loop, each carrying one statement at a time."""

    def __init__(self, name: str, connections: AsyncPostgres, *, size: int) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.name = name
        self._connections = connections
        self._size = size
        self._loops: dict[asyncio.AbstractEventLoop, _LoopConnections] = {}
        self._closed = False

    async def execute(self, name: str, sql: str, parameters: Sequence[Any]) -> int:
        """:meth:`LibpqConnection.execute_prepared` on a connection of the running loop."""
        async with self._connection() as connection:
            return await connection.execute_prepared(name, sql, parameters)

    async def query(self, name: str, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        """:meth:`LibpqConnection.query_prepared` on a connection of the running loop."""
        async with self._connection() as connection:
            return await connection.query_prepared(name, sql, parameters)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[LibpqConnection]:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop) or self._new_loop(loop)
        connection = await self._take(state)
        try:
            yield connection
        except BaseException:
            self._drop(state, connection)
            raise
        self._give_back(state, connection)

    async def _take(self, state: _LoopConnections) -> LibpqConnection:
        while True:
            if self._closed:
                raise BatchRunnerClosed(self.name)
            if state.idle:
                return state.idle.pop()
            if state.opened < self._size:
                state.opened += 1
                try:
                    return await LibpqConnection.open(self._connections)
                except BaseException:
                    state.opened -= 1
                    _wake(state, None)
                    raise
            waiter: asyncio.Future[LibpqConnection | None] = (
                asyncio.get_running_loop().create_future()
            )
            state.waiting.append(waiter)
            try:
                handed = await waiter
            except BaseException:
                if not waiter.done():
                    state.waiting.remove(waiter)
                elif not waiter.cancelled():  # handed something, then cancelled: pass it on
                    given = waiter.result()
                    if given is None:
                        _wake(state, None)
                    else:
                        self._give_back(state, given)
                raise
            if handed is not None:
                return handed
            # None: a place was freed (or the pool closed); look again

    def _give_back(self, state: _LoopConnections, connection: LibpqConnection) -> None:
        """To the statement that has waited longest, else among the idle: first come, first
        served, so that none waits while later ones pass it."""
        if self._closed:
            self._drop(state, connection)
        elif not _wake(state, connection):
            state.idle.append(connection)

    def _drop(self, state: _LoopConnections, connection: LibpqConnection) -> None:
        connection.discard()
        state.opened -= 1
        _wake(state, None)

    def _new_loop(self, loop: asyncio.AbstractEventLoop) -> _LoopConnections:
        for old in [old for old in self._loops if old.is_closed()]:
            for connection in self._loops.pop(old).idle:
                connection.discard()
        state = self._loops[loop] = _LoopConnections()
        return state

    def close(self) -> None:
        """Take no more statements; discard the idle connections (one in use is discarded
        when its statement finishes). May be called from any thread."""
        self._closed = True
        for state in self._loops.values():
            while state.idle:
                state.idle.pop().discard()
            for waiter in state.waiting:
                with suppress(RuntimeError):  # that loop has closed: nobody is waiting
                    waiter.get_loop().call_soon_threadsafe(_settle, waiter)


def _wake(state: _LoopConnections, given: LibpqConnection | None) -> bool:
    """Hand ``given`` (a connection, or None: a place) to the statement that has waited
    longest; False if none waits."""
    while state.waiting:
        waiter = state.waiting.popleft()
        if not waiter.done():
            waiter.set_result(given)
            return True
    return False


def _settle(waiter: asyncio.Future[LibpqConnection | None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
