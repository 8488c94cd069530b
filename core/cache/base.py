"""The cache interface shared by the in-process and the Redis implementation.

What must be shared between workers (replay detection, rate limits, short-lived artefacts)
goes through this interface, so that a deployment with several workers points it at Redis.
Values are bytes; ``ttl`` is in seconds.
"""

from __future__ import annotations

from typing import Protocol

from core.errors.problem import DependencyUnavailable


class CacheUnavailable(DependencyUnavailable):
    """The cache backend cannot be reached; callers answer 503 for what needs it."""


class Cache(Protocol):
    def get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or None when absent or expired."""

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` under ``key``, replacing any previous value."""

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store only if ``key`` is absent; True when stored (atomic: single-use, replay)."""

    def replace(self, key: str, expected: bytes | None, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` still holds ``expected`` (None: is absent); True
        when stored (atomic: a read-modify-write that another worker may race)."""

    def delete(self, key: str) -> bool:
        """Remove ``key``; True when it existed."""

    def incr(self, key: str, ttl: float) -> int:
        """Atomically increment a counter; the window of ``ttl`` starts at the first hit."""

    def decr(self, key: str) -> int:
        """Atomically take one back from a counter, its window unchanged, never below 0; a
        counter that is gone (expired, deleted) stays gone, and 0 is answered."""

    def ping(self) -> None:
        """Raise :class:`CacheUnavailable` when the backend does not answer."""

    def close(self) -> None:
        """Release connections."""
