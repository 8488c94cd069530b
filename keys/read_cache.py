"""The key registry's short-lived memory of what it read (:mod:`keys.registry`): the
active signers and the published keys, each kept for :data:`SECONDS`, so that a token check
or a signature does not read the key table every time, and a rotation elsewhere is seen
within seconds.

What the event loop reads (:meth:`ReadCache.get_renewing`) is renewed once, in a thread of
its own, when it is within :data:`RENEW_AHEAD_SECONDS` of its end, and answers meanwhile:
under load it never lapses and sends every request of that moment to the general path at
once. How stale an entry may be does not change. What was read before :meth:`forget` (a
rotation in this process) is never stored after it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

log = logging.getLogger(__name__)

SECONDS = 5.0
RENEW_AHEAD_SECONDS = SECONDS / 2


class ReadCache(Generic[K, V]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[K, tuple[float, V]] = {}  # key: (monotonic end, value)
        self._generation = 0  # forget()'s count
        self.renewals: dict[K, threading.Thread] = {}  # at most one per entry

    def get(self, key: K) -> V | None:
        """The value while its entry lasts, else None."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def ends_at(self, key: K) -> float | None:
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else entry[0]

    def load(self, key: K, read: Callable[[], V]) -> V:
        """``read()``, kept for :data:`SECONDS` unless :meth:`forget` ran meanwhile."""
        generation = self._generation
        value = read()
        with self._lock:
            if generation == self._generation:
                self._entries[key] = (time.monotonic() + SECONDS, value)
        return value

    def get_renewing(self, key: K, read: Callable[[], V]) -> V | None:
        """:meth:`get`, never reading anything itself; an entry near its end starts one
        :meth:`load` in a thread of its own. A load that fails leaves the entry to end as it
        would have."""
        value = self.get(key)
        if value is None:
            return None
        with self._lock:
            entry = self._entries.get(key)
            running = self.renewals.get(key)
            if entry is None or entry[0] - time.monotonic() > RENEW_AHEAD_SECONDS:
                return value
            if running is not None and running.is_alive():
                return value
            thread = threading.Thread(
                target=self._renew, args=(key, read), name="key-cache-renewal", daemon=True
            )
            self.renewals[key] = thread
        thread.start()
        return value

    def _renew(self, key: K, read: Callable[[], V]) -> None:
        try:
            self.load(key, read)
        except Exception:  # the database or a key backend: the entry ends as it would have
            log.warning("renewing a cached key failed", exc_info=True)

    def forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
