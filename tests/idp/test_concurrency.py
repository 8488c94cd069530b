"""Many requests at once: no request waits for a second database connection it cannot get
(the benchmark found stalls and 500s above 15 concurrent requests per process)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.idp.oidc_helpers import World

CONCURRENT = 32


def test_concurrent_token_issuance_and_introspection(client: TestClient, world: World) -> None:
    auth = (world.service_client_id, world.service_secret)
    token = client.post("/token", data={"grant_type": "client_credentials"}, auth=auth).json()

    def issue(_: int) -> int:
        return client.post(
            "/token", data={"grant_type": "client_credentials"}, auth=auth
        ).status_code

    def introspect(_: int) -> int:
        return client.post(
            "/introspect", data={"token": token["access_token"]}, auth=auth
        ).status_code

    with ThreadPoolExecutor(CONCURRENT) as pool:
        statuses = list(pool.map(issue, range(CONCURRENT)))
        statuses += list(pool.map(introspect, range(CONCURRENT)))
    assert statuses == [200] * (2 * CONCURRENT)
