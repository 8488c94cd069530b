"""What the hot path reads when its caches are empty (idp/hotpath/single_flight.py,
key_loader.py): one read on a thread for all the requests of that moment, shared result or
shared error, and the hot path answers instead of sending them all to the general path."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from core.services import Services
from idp.hotpath.key_loader import KeyLoader
from idp.hotpath.single_flight import SingleFlight
from tests.idp.hot_paths import Paths, both_paths
from tests.idp.oidc_helpers import World


def slow_counted(calls: list[str], read: Any) -> Any:
    def counted(*args: Any) -> Any:
        calls.append(threading.current_thread().name)
        time.sleep(0.05)
        return read(*args)

    return counted


@pytest.mark.parametrize("what", ["signer", "published"])
def test_requests_that_find_no_key_share_one_read(
    services: Services, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    services.keys.forget_cache()
    reads: list[str] = []
    monkeypatch.setattr(services.keys, what, slow_counted(reads, getattr(services.keys, what)))
    loader = KeyLoader(services.keys)

    async def many() -> list[Any]:
        return list(await asyncio.gather(*(getattr(loader, what)("token") for _ in range(20))))

    results = asyncio.run(many())
    assert len(reads) == 1 and reads[0].startswith("asyncio_")  # once, on a thread
    assert all(result == results[0] for result in results)
    asyncio.run(getattr(loader, what)("token"))
    assert len(reads) == 1  # the read filled the registry's cache


def test_introspection_with_no_key_cached_is_answered_by_the_hot_path(
    services: Services, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths: Paths = both_paths(services, monkeypatch)
    auth = (world.service_client_id, world.service_secret)
    token = paths.hot.post(
        "/token", data={"grant_type": "client_credentials", "scope": "licence:read"}, auth=auth
    ).json()["access_token"]
    services.keys.forget_cache()
    paths.calls.clear()
    answer = paths.hot.post("/introspect", data={"token": token}, auth=auth)
    assert answer.json()["active"] is True and paths.calls == []


def test_an_error_reaches_every_waiter_and_the_next_request_reads_again() -> None:
    flight: SingleFlight[int] = SingleFlight()
    attempts: list[int] = []

    def failing() -> int:
        attempts.append(1)
        time.sleep(0.05)
        raise ConnectionError("database unavailable")

    async def many() -> list[Any]:
        return list(
            await asyncio.gather(
                *(flight.get("k", failing) for _ in range(5)), return_exceptions=True
            )
        )

    errors = asyncio.run(many())
    assert len(attempts) == 1 and all(isinstance(e, ConnectionError) for e in errors)
    assert asyncio.run(flight.get("k", lambda: 7)) == 7  # nothing of the failure is kept


def test_a_waiter_that_leaves_does_not_cancel_the_read_for_the_others() -> None:
    flight: SingleFlight[str] = SingleFlight()

    def slow() -> str:
        time.sleep(0.1)
        return "key"

    async def main() -> tuple[str, bool]:
        leaving = asyncio.ensure_future(flight.get("k", slow))
        staying = asyncio.ensure_future(flight.get("k", slow))
        await asyncio.sleep(0.01)
        leaving.cancel()
        return await staying, leaving.cancelled()

    assert asyncio.run(main()) == ("key", True)


def test_different_keys_are_read_separately() -> None:
    flight: SingleFlight[str] = SingleFlight()

    async def main() -> list[str]:
        return list(
            await asyncio.gather(flight.get("a", lambda: "A"), flight.get("b", lambda: "B"))
        )

    assert asyncio.run(main()) == ["A", "B"]
