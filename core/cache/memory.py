"""In-process cache for the embedded single-process default."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class MemoryCache:
    """A dict with expiry times behind a lock. Not shared between processes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._items: dict[str, tuple[bytes, float | None]] = {}

    def _live(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= self._clock():
            del self._items[key]
            return None
        return value

    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._clock() + ttl

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live(key)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        with self._lock:
            self._items[key] = (value, self._expiry(ttl))

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._items[key] = (value, self._expiry(ttl))
            return True

    def replace(self, key: str, expected: bytes | None, value: bytes, ttl: float) -> bool:
        with self._lock:
            if self._live(key) != expected:
                return False
            self._items[key] = (value, self._expiry(ttl))
            return True

    def delete(self, key: str) -> bool:
        with self._lock:
            existed = self._live(key) is not None
            self._items.pop(key, None)
            return existed

    def incr(self, key: str, ttl: float) -> int:
        with self._lock:
            current = self._live(key)
            if current is None:
                self._items[key] = (b"1", self._expiry(ttl))
                return 1
            count = int(current) + 1
            self._items[key] = (str(count).encode(), self._items[key][1])
            return count

    def decr(self, key: str) -> int:
        with self._lock:
            current = self._live(key)
            if current is None or int(current) <= 0:
                return 0
            count = int(current) - 1
            self._items[key] = (str(count).encode(), self._items[key][1])
            return count

    def ping(self) -> None:
        return None

    def close(self) -> None:
        with self._lock:
            self._items.clear()
