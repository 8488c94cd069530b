"""Redis implementation of the cache interface, shared by every worker."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import redis

from core.cache.base import CacheUnavailable

P = ParamSpec("P")
R = TypeVar("R")

# INCR and set the window on the first hit, atomically.
_INCR_WITH_WINDOW = """
local value = redis.call('INCR', KEYS[1])
if value == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return value
"""

# DECR only a counter that exists and is above 0 (DECR keeps its window), atomically.
_DECR_EXISTING = """
local value = tonumber(redis.call('GET', KEYS[1]))
if value == nil or value <= 0 then return 0 end
return redis.call('DECR', KEYS[1])
"""

# SET only while the key holds the expected value (ARGV[1] '0': absent; '1': ARGV[2]).
_REPLACE_IF_UNCHANGED = """
local current = redis.call('GET', KEYS[1])
if (ARGV[1] == '0' and current ~= false) or (ARGV[1] == '1' and current ~= ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1
"""


def _unavailable_on_error(method: Callable[P, R]) -> Callable[P, R]:
    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except redis.RedisError as exc:
            raise CacheUnavailable(f"redis: {type(exc).__name__}") from exc

    return wrapper


def _ms(ttl: float) -> int:
    return max(1, int(ttl * 1000))


class RedisCache:
    """Keys are namespaced by ``prefix`` so that several deployments can share a server."""

    def __init__(self, url: str, prefix: str = "govtrust:") -> None:
        self._client = redis.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30
        )
        self._prefix = prefix
        self._incr = self._client.register_script(_INCR_WITH_WINDOW)
        self._decr = self._client.register_script(_DECR_EXISTING)
        self._replace = self._client.register_script(_REPLACE_IF_UNCHANGED)

    def _key(self, key: str) -> str:
        return self._prefix + key

    @_unavailable_on_error
    def get(self, key: str) -> bytes | None:
        value = self._client.get(self._key(key))
        return None if value is None else bytes(value)  # type: ignore[arg-type]

    @_unavailable_on_error
    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._client.set(self._key(key), value, px=None if ttl is None else _ms(ttl))

    @_unavailable_on_error
    def add(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(self._client.set(self._key(key), value, px=_ms(ttl), nx=True))

    @_unavailable_on_error
    def replace(self, key: str, expected: bytes | None, value: bytes, ttl: float) -> bool:
        held = (b"0", b"") if expected is None else (b"1", expected)
        return bool(self._replace(keys=[self._key(key)], args=[*held, value, _ms(ttl)]))

    @_unavailable_on_error
    def delete(self, key: str) -> bool:
        return bool(self._client.delete(self._key(key)))

    @_unavailable_on_error
    def incr(self, key: str, ttl: float) -> int:
        return int(self._incr(keys=[self._key(key)], args=[_ms(ttl)]))

    @_unavailable_on_error
    def decr(self, key: str) -> int:
        return int(self._decr(keys=[self._key(key)]))

    @_unavailable_on_error
    def ping(self) -> None:
        self._client.ping()

    def close(self) -> None:
        self._client.close()
