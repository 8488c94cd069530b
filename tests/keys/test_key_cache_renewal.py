"""The key registry's cache as the event loop reads it (``signer_if_cached``,
``published_if_cached``; keys/registry.py, keys/read_cache.py): an entry near its end is
renewed once, in the background, while it still answers, so that under load it never
lapses and sends every request of that moment to the general path; how stale an entry may
be is unchanged; a rotation in this process wins over a renewal in flight; a renewal that
fails leaves the entry to end as it would have.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from core.services import Services, build_services
from keys import read_cache
from keys.read_cache import RENEW_AHEAD_SECONDS
from keys.read_cache import SECONDS as ACTIVE_CACHE_SECONDS
from keys.registry import KeyRegistry
from tests.conftest import FrozenClock

TOKEN = ("token", None)


class Monotonic:
    """The registry's ``time.monotonic``, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> Monotonic:
    clock = Monotonic()
    monkeypatch.setattr(read_cache.time, "monotonic", clock)
    return clock


@pytest.fixture
def other(
    services: Services, backend: str, request: pytest.FixtureRequest, clock: FrozenClock
) -> Iterator[Services]:
    """Another process's services over the same database."""
    schema = request.getfixturevalue("pg_schema")[1] if backend == "real" else None
    built = build_services(services.settings, schema=schema, clock=clock)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Renewals start as usual but read nothing until the test sets the event: what an
    entry answers "meanwhile" is then checked while its renewal is still in flight, however
    fast or slow the machine."""
    release = threading.Event()
    renew = read_cache.ReadCache._renew

    def gated(cache: read_cache.ReadCache[object, object], *args: object) -> None:
        release.wait(timeout=10)
        renew(cache, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(read_cache.ReadCache, "_renew", gated)
    yield release
    release.set()


def renewals(registry: KeyRegistry) -> list[threading.Thread]:
    return [*registry._active.renewals.values(), *registry._published.renewals.values()]


def settle(registry: KeyRegistry) -> None:
    for thread in renewals(registry):
        thread.join(timeout=10)


def test_a_fresh_entry_is_not_renewed(services: Services, monotonic: Monotonic) -> None:
    registry = services.keys
    loaded = registry.signer("token")
    monotonic.now += ACTIVE_CACHE_SECONDS - RENEW_AHEAD_SECONDS - 0.1
    assert registry.signer_if_cached("token") is loaded
    assert registry.published_if_cached("token") is None  # never read: nothing to renew
    assert renewals(registry) == []


def test_an_entry_near_its_end_is_renewed_once_and_answers_meanwhile(
    services: Services, other: Services, monotonic: Monotonic, held: threading.Event
) -> None:
    registry = services.keys
    loaded = registry.signer("token")
    registry.published("token")
    other.keys.rotate("token")  # another process: seen here only when the entry is read again
    monotonic.now += ACTIVE_CACHE_SECONDS - RENEW_AHEAD_SECONDS + 0.1
    assert registry.signer_if_cached("token") is loaded  # still answers
    assert registry.signer_if_cached("token") is loaded
    assert registry.published_if_cached("token") is not None
    assert len(renewals(registry)) == 2  # one per entry, however often it was read
    held.set()
    settle(registry)

    renewed = registry.signer_if_cached("token")
    assert renewed is not None and renewed.kid != loaded.kid  # the rotation, read again
    assert registry._active.ends_at(TOKEN) == monotonic.now + ACTIVE_CACHE_SECONDS
    published = registry.published_if_cached("token")
    assert published is not None and renewed.kid in {key.kid for key in published}
    monotonic.now += RENEW_AHEAD_SECONDS  # past where the first entry would have ended
    assert registry.signer_if_cached("token") is renewed


def test_unread_entries_still_end_on_time(services: Services, monotonic: Monotonic) -> None:
    """Nothing read it near its end (no load): it ends, and the general path reads it."""
    registry = services.keys
    registry.signer("token")
    monotonic.now += ACTIVE_CACHE_SECONDS
    assert registry.signer_if_cached("token") is None
    assert renewals(registry) == []


def test_a_rotation_here_wins_over_a_renewal_in_flight(
    services: Services, monotonic: Monotonic
) -> None:
    registry = services.keys
    old = registry.signer("token")

    def read_while_rotated() -> object:  # a renewal reads; this process rotates meanwhile
        registry.rotate("token")
        return old

    registry._active.load(TOKEN, read_while_rotated)  # type: ignore[arg-type]
    current = registry.signer_if_cached("token")
    assert current is None or current.kid != old.kid
    assert registry.signer("token").kid != old.kid


def test_a_failed_renewal_leaves_the_entry_to_end(
    services: Services,
    monotonic: Monotonic,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = services.keys
    loaded = registry.signer("token")

    def unreachable(*args: object) -> None:
        raise ConnectionError("the database is down")

    monkeypatch.setattr(registry, "_read_signer", unreachable)
    monotonic.now += ACTIVE_CACHE_SECONDS - 0.1
    with caplog.at_level(logging.WARNING, logger="keys.read_cache"):
        assert registry.signer_if_cached("token") is loaded
        settle(registry)
    assert "renewing a cached key failed" in caplog.text
    monotonic.now += 0.1
    assert registry.signer_if_cached("token") is None  # ends as it would have
