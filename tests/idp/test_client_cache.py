"""The OAuth endpoints' short-lived client cache: hits, expiry, and invalidation on change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from fastapi.testclient import TestClient
from sqlalchemy import update

from core.db.engine import transaction
from core.services import Services
from idp.clients.cache import ClientCache, clients_changed
from idp.clients.channels import Channel
from idp.clients.models import Client
from idp.clients.storage import ClientRow
from tests.idp.oidc_helpers import World, client_service

CLIENT = Client(
    client_id="c1",
    name="部门系统",
    channel=Channel.SERVICE,
    token_endpoint_auth_method="client_secret_basic",
    redirect_uris=(),
    grant_types=("client_credentials",),
    scope="licence:read",
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def counting(client: Client | None) -> tuple[list[int], Callable[[], Client | None]]:
    calls: list[int] = []

    def load() -> Client | None:
        calls.append(1)
        return client

    return calls, load


def test_a_client_is_read_once_within_its_lifetime() -> None:
    clock = Clock()
    cache = ClientCache(ttl=5, clock=clock)
    calls, load = counting(CLIENT)
    assert cache.get("c1", load) is CLIENT
    clock.now += 4.9
    assert cache.get("c1", load) is CLIENT
    assert len(calls) == 1
    clock.now += 0.2
    assert cache.get("c1", load) is CLIENT
    assert len(calls) == 2


def test_unknown_clients_are_not_cached() -> None:
    cache = ClientCache(ttl=5, clock=Clock())
    calls, load = counting(None)
    assert cache.get("nope", load) is None
    assert cache.get("nope", load) is None
    assert len(calls) == 2


def test_a_change_in_this_process_empties_the_cache() -> None:
    cache = ClientCache(ttl=60, clock=Clock())
    calls, load = counting(CLIENT)
    cache.get("c1", load)
    clients_changed()
    cache.get("c1", load)
    assert len(calls) == 2


def test_the_cache_is_bounded() -> None:
    cache = ClientCache(ttl=60, max_entries=2, clock=Clock())
    for client_id in ("a", "b", "c"):
        cache.get(client_id, counting(replace(CLIENT, client_id=client_id))[1])
    calls, load = counting(replace(CLIENT, client_id="a"))
    cache.get("a", load)
    assert len(calls) == 1  # "a", the least recently used, was dropped


def service_token(client: TestClient, client_id: str, secret: str) -> int:
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "licence:read"},
        auth=(client_id, secret),
    )
    return int(response.status_code)


def test_rotation_and_disabling_take_effect_at_once(
    services: Services, client: TestClient, world: World
) -> None:
    clients = client_service(services)
    assert service_token(client, world.service_client_id, world.service_secret) == 200  # cached
    new = clients.rotate_secret(world.service_client_id)
    assert service_token(client, world.service_client_id, world.service_secret) == 401
    assert service_token(client, world.service_client_id, new) == 200
    clients.set_status(world.service_client_id, "disabled")
    assert service_token(client, world.service_client_id, new) == 401
    clients.set_status(world.service_client_id, "active")
    assert service_token(client, world.service_client_id, new) == 200


def test_a_change_made_elsewhere_is_seen_once_the_entry_expires(
    services: Services, client: TestClient, world: World
) -> None:
    clock = Clock()
    services.idp.server.client_cache = ClientCache(ttl=5, clock=clock)
    assert service_token(client, world.service_client_id, world.service_secret) == 200
    # another process disables the client (a plain UPDATE: no ORM event in this process)
    with transaction(services.sessions) as session:
        session.execute(
            update(ClientRow)
            .where(ClientRow.client_id == world.service_client_id)
            .values(status="disabled")
        )
    assert service_token(client, world.service_client_id, world.service_secret) == 200
    clock.now += 5.1
    assert service_token(client, world.service_client_id, world.service_secret) == 401
