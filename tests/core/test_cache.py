"""The cache interface behaves the same in process and on Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from core.cache import Cache, CacheUnavailable, MemoryCache, RedisCache, make_cache
from tests.conftest import REDIS_URL


def test_set_get_delete(cache_factory: Callable[[], Cache]) -> None:
    cache = cache_factory()
    assert cache.get("k") is None
    cache.set("k", b"v")
    assert cache.get("k") == b"v"
    cache.set("k", b"w", ttl=60)
    assert cache.get("k") == b"w"
    assert cache.delete("k") is True
    assert cache.delete("k") is False
    assert cache.get("k") is None


def test_add_is_single_use(cache_factory: Callable[[], Cache]) -> None:
    cache = cache_factory()
    assert cache.add("jti:1", b"1", ttl=60) is True
    assert cache.add("jti:1", b"2", ttl=60) is False
    assert cache.get("jti:1") == b"1"


def test_add_is_atomic_under_contention(cache_factory: Callable[[], Cache]) -> None:
    cache = cache_factory()
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def race() -> None:
        barrier.wait()
        wins.append(cache.add("code:once", b"x", ttl=60))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 1


def test_incr_counts_within_a_window(cache_factory: Callable[[], Cache]) -> None:
    cache = cache_factory()
    assert [cache.incr("rate:a", ttl=60) for _ in range(3)] == [1, 2, 3]
    assert cache.incr("rate:b", ttl=60) == 1


def test_decr_takes_one_back_but_never_revives_a_counter(
    cache_factory: Callable[[], Cache],
) -> None:
    cache = cache_factory()
    assert [cache.incr("rate:c", ttl=0.3) for _ in range(3)] == [1, 2, 3]
    assert cache.decr("rate:c") == 2
    assert cache.incr("rate:c", ttl=60) == 3  # the first window goes on
    assert cache.decr("rate:gone") == 0 and cache.get("rate:gone") is None
    cache.incr("rate:d", ttl=60)
    assert [cache.decr("rate:d"), cache.decr("rate:d")] == [0, 0]  # never below 0
    assert cache.incr("rate:d", ttl=60) == 1
    time.sleep(0.45)
    assert cache.get("rate:c") is None  # expired in its first window, decr or not
    assert cache.decr("rate:c") == 0 and cache.get("rate:c") is None


def test_replace_stores_only_over_the_expected_value(cache_factory: Callable[[], Cache]) -> None:
    cache = cache_factory()
    assert cache.replace("state", b"old", b"new", ttl=60) is False  # absent, not b"old"
    assert cache.get("state") is None
    assert cache.replace("state", None, b"first", ttl=60) is True  # absent, as expected
    assert cache.replace("state", None, b"again", ttl=60) is False
    assert cache.replace("state", b"other", b"again", ttl=60) is False
    assert cache.get("state") == b"first"
    assert cache.replace("state", b"first", b"second", ttl=0.05) is True
    assert cache.get("state") == b"second"
    time.sleep(0.15)  # the new ttl applies
    assert cache.get("state") is None


def test_replace_is_atomic_under_contention(cache_factory: Callable[[], Cache]) -> None:
    """Eight read-modify-writes of one counter, each retried until its write lands: none
    is lost (a get-then-set would keep only the last writer's)."""
    cache = cache_factory()
    barrier = threading.Barrier(8)
    losses: list[int] = []

    def add_one() -> None:
        barrier.wait()
        lost = 0
        while True:
            seen = cache.get("shared-count")
            value = str(int(seen or b"0") + 1).encode()
            if cache.replace("shared-count", seen, value, ttl=60):
                break
            lost += 1
        losses.append(lost)

    threads = [threading.Thread(target=add_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get("shared-count") == b"8"
    assert len(losses) == 8


def test_prefix_separates_deployments() -> None:
    url = REDIS_URL or pytest.skip("GOVTRUST_TEST_REDIS_URL not set")
    first, second = RedisCache(url, prefix="test:a:"), RedisCache(url, prefix="test:b:")
    try:
        first.set("shared", b"1", ttl=5)
        assert second.get("shared") is None
        assert first.get("shared") == b"1"
    finally:
        first.delete("shared")
        first.close()
        second.close()


def test_values_expire(cache_factory: Callable[[], Cache]) -> None:
    cache = cache_factory()
    cache.set("short", b"1", ttl=0.05)
    assert cache.add("short-add", b"1", ttl=0.05)
    cache.incr("short-count", ttl=0.05)
    time.sleep(0.15)
    assert cache.get("short") is None
    assert cache.add("short-add", b"2", ttl=60) is True
    assert cache.incr("short-count", ttl=60) == 1


def test_memory_expiry_follows_its_clock() -> None:
    now = [1000.0]
    cache = MemoryCache(clock=lambda: now[0])
    cache.set("k", b"v", ttl=10)
    now[0] += 9.9
    assert cache.get("k") == b"v"
    now[0] += 0.2
    assert cache.get("k") is None


def test_unreachable_redis_raises_cache_unavailable() -> None:
    cache = RedisCache("redis://127.0.0.1:1/0")
    with pytest.raises(CacheUnavailable):
        cache.ping()
    with pytest.raises(CacheUnavailable):
        cache.add("k", b"v", ttl=1)
    cache.close()


def test_make_cache_chooses_by_url() -> None:
    assert isinstance(make_cache(None), MemoryCache)
    redis_cache = make_cache("redis://127.0.0.1:6379/0")
    assert isinstance(redis_cache, RedisCache)
    redis_cache.close()
