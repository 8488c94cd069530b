"""The console's session store: encrypted at rest under a hash of the cookie, idle and
absolute expiry, search results beside the session."""

from __future__ import annotations

import time
from collections.abc import Callable

from console.session import ABSOLUTE_SECONDS, ConsoleSession, SessionStore
from core.cache import Cache, MemoryCache


def _session(created_at: float) -> ConsoleSession:
    return ConsoleSession(
        person_id="p1",
        subject="s1",
        access_token="eyJ-access-token",
        refresh_token="refresh-secret",
        id_token="eyJ-id-token",
        access_expires_at=created_at + 600,
        csrf="csrf-token",
        created_at=created_at,
    )


def test_a_session_round_trips_and_is_encrypted(cache_factory: Callable[[], Cache]) -> None:
    cache = cache_factory()
    store = SessionStore(cache)
    session = _session(time.time())
    cookie = store.create(session)
    assert store.load(cookie) == session
    raw = cache.get(store._key(cookie))
    assert raw is not None
    assert b"access-token" not in raw and b"refresh-secret" not in raw
    assert cookie not in store._key(cookie)


def test_another_cookie_reads_nothing(cache_factory: Callable[[], Cache]) -> None:
    store = SessionStore(cache_factory())
    cookie = store.create(_session(time.time()))
    assert store.load(cookie[:-1] + ("A" if cookie[-1] != "A" else "B")) is None
    assert store.load(None) is None
    assert store.load("x" * 500) is None


def test_a_session_ends_when_idle(cache_factory: Callable[[], Cache]) -> None:
    cache = cache_factory()
    store = SessionStore(cache)
    cookie = store.create(_session(time.time()))
    cache.delete(store._key(cookie, "seen:"))  # as if IDLE_SECONDS passed without a request
    assert store.load(cookie) is None
    assert cache.get(store._key(cookie)) is None


def test_a_session_ends_at_its_absolute_lifetime() -> None:
    now = [1_000_000.0]
    store = SessionStore(MemoryCache(), clock=lambda: now[0])
    cookie = store.create(_session(now[0]))
    now[0] += ABSOLUTE_SECONDS - 1
    store.touch(cookie)
    assert store.load(cookie) is not None
    now[0] += 2
    assert store.load(cookie) is None


def test_search_results_belong_to_their_session(cache_factory: Callable[[], Cache]) -> None:
    store = SessionStore(cache_factory())
    mine = store.create(_session(time.time()))
    theirs = store.create(_session(time.time()))
    store.save_search(mine, "abc123", ["id-1", "id-2"])
    assert store.load_search(mine, "abc123") == ["id-1", "id-2"]
    assert store.load_search(theirs, "abc123") is None
    assert store.load_search(mine, "../x") is None
