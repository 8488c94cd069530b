"""Cache: Redis when ``GOVTRUST_REDIS_URL`` is set, an in-process cache otherwise."""

from __future__ import annotations

from core.cache.base import Cache, CacheUnavailable
from core.cache.memory import MemoryCache
from core.cache.redis_cache import RedisCache

__all__ = ["Cache", "CacheUnavailable", "MemoryCache", "RedisCache", "make_cache"]


def make_cache(redis_url: str | None, prefix: str = "govtrust:") -> Cache:
    if redis_url:
        return RedisCache(redis_url, prefix=prefix)
    return MemoryCache()
