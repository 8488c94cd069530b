"""Polling intervals of the device grant (RFC 8628 §3.5) and CIBA poll mode (CIBA Core §11),
as :func:`idp.oauth.polling.record_poll` keeps them in the shared cache, on both caches:
a poll sooner than the interval is too fast and grows the interval by 5 s for good; polls
sent at the same moment are judged one after the other."""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.cache import Cache, MemoryCache
from idp.oauth.polling import ATTEMPTS, SLOW_DOWN_SECONDS, Poll, record_poll

KEY = "device-poll:test"
RETENTION = 60.0


def test_too_fast_grows_the_interval_for_good(cache_factory: Callable[[], Cache]) -> None:
    cache = cache_factory()
    assert record_poll(cache, KEY, 1000.0, 5, RETENTION) == Poll(False, 5)  # the first
    assert record_poll(cache, KEY, 1004.9, 5, RETENTION) == Poll(True, 10)
    assert record_poll(cache, KEY, 1010.0, 5, RETENTION) == Poll(True, 15)  # 5.1 s < 10 s
    assert record_poll(cache, KEY, 1025.0, 5, RETENTION) == Poll(False, 15)  # kept
    assert record_poll(cache, KEY, 1040.0, 5, RETENTION) == Poll(False, 15)
    # another authorization keeps its own record
    assert record_poll(cache, KEY + "-other", 1040.5, 7, RETENTION) == Poll(False, 7)


def test_polls_at_the_same_moment_are_judged_one_after_the_other(
    cache_factory: Callable[[], Cache],
) -> None:
    """Eight polls at once on as many threads: one passes, seven are slowed down, and the
    interval grows by 5 s for each of those seven. With a plain get-then-set every poll read
    the same record: all passed, and the interval did not grow."""
    cache = cache_factory()
    record_poll(cache, KEY, 1000.0, 5, RETENTION)
    barrier = threading.Barrier(8)
    polls: list[Poll] = []

    def poll() -> None:
        barrier.wait()
        polls.append(record_poll(cache, KEY, 1005.0, 5, RETENTION))

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(polls) == 8
    assert sum(not p.too_fast for p in polls) == 1
    assert sorted(p.interval for p in polls) == [5] + [
        5 + SLOW_DOWN_SECONDS * n for n in range(1, 8)
    ]
    assert record_poll(cache, KEY, 1005.0, 5, RETENTION) == Poll(True, 45)


class Overtaken(MemoryCache):
    """A cache on which every write is overtaken by another poll's."""

    def replace(self, key: str, expected: bytes | None, value: bytes, ttl: float) -> bool:
        self.writes = getattr(self, "writes", 0) + 1
        return False


def test_a_poll_overtaken_every_time_is_slowed_down() -> None:
    cache = Overtaken()
    assert record_poll(cache, KEY, 1000.0, 5, RETENTION) == Poll(True, 10)
    assert cache.writes == ATTEMPTS
    assert cache.get(KEY) is None  # not recorded
