"""Per-client policy: "PAR required" (RFC 9126 §6) and the allow-list of token-exchange
audiences (RFC 8693 §2.1, ``invalid_target``), set at registration and by the admin API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from core.app import create_app
from core.services import Services
from idp.clients.channels import Channel
from idp.clients.service import InvalidClientMetadata
from tests.conftest import FrozenClock
from tests.idp.oidc_helpers import (
    REDIRECT,
    World,
    authorize_params,
    build_world,
    callback_params,
    client_service,
    login_and_consent,
    pkce_pair,
)
from tests.idp.test_admin_api import make_admin
from tests.idp.test_request_object import request_object
from tests.idp.test_token_exchange import exchange, web_tokens

ISSUER = "https://govtrust.test"


@pytest.fixture
def world(services: Services) -> World:
    return build_world(services)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    yield TestClient(create_app(services=services), base_url=ISSUER)


# -- PAR required (RFC 9126 §6) ------------------------------------------------------------


@pytest.fixture
def strict_portal(services: Services, world: World) -> tuple[str, str, ECKey]:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    registered, secret = client_service(services).register(
        name="只收推送请求的门户",
        channel=Channel.WEB,
        redirect_uris=[REDIRECT],
        scope="openid profile",
        require_pushed_authorization_requests=True,
    )
    assert secret and registered.require_pushed_authorization_requests
    return registered.client_id, secret, key


def test_par_required_refuses_plain_requests(
    client: TestClient, strict_portal: tuple[str, str, ECKey]
) -> None:
    client_id, _, _ = strict_portal
    _, challenge = pkce_pair()
    plain = client.get(
        "/authorize", params=authorize_params(client_id, challenge), follow_redirects=False
    )
    assert plain.status_code == 400 and "pushed authorization" in plain.text
    assert "location" not in plain.headers


def test_par_required_accepts_pushed_requests(
    client: TestClient, strict_portal: tuple[str, str, ECKey]
) -> None:
    client_id, secret, _ = strict_portal
    _, challenge = pkce_pair()
    pushed = client.post(
        "/par", data=authorize_params(client_id, challenge), auth=(client_id, secret)
    )
    assert pushed.status_code == 201, pushed.text
    params = {"client_id": client_id, "request_uri": pushed.json()["request_uri"]}
    assert callback_params(login_and_consent(client, params))["state"] == "st-123"


def test_par_required_refuses_request_objects_by_value(
    client: TestClient, services: Services, world: World, clock: FrozenClock
) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    registered, _ = client_service(services).register(
        name="私钥门户",
        channel=Channel.WEB,
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
        require_pushed_authorization_requests=True,
    )
    signed = request_object(key, clock, registered.client_id)
    refused = client.get(
        "/authorize",
        params={"client_id": registered.client_id, "request": signed},
        follow_redirects=False,
    )
    assert refused.status_code == 400


def test_other_clients_are_not_affected(client: TestClient, world: World) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge)
    assert callback_params(login_and_consent(client, params))["state"] == "st-123"


# -- token-exchange audiences (RFC 8693 §2.1) ----------------------------------------------


def test_exchange_only_to_listed_audiences(
    client: TestClient, services: Services, world: World
) -> None:
    service = client_service(services)
    downstream, _ = service.register(
        name="档案查询服务", channel=Channel.SERVICE, scope="openid profile"
    )
    unlisted, _ = service.register(
        name="公积金系统", channel=Channel.SERVICE, scope="openid profile"
    )
    department, secret = service.register(
        name="不动产登记系统",
        channel=Channel.SERVICE,
        scope="openid profile",
        exchange_targets=[downstream.client_id],
    )
    assert secret and department.exchange_targets == (downstream.client_id,)
    auth = (department.client_id, secret)
    subject = web_tokens(client, world, scope="openid profile")["access_token"]
    listed = exchange(client, subject, auth, audience=downstream.client_id, scope="profile")
    assert listed["_status"] == 200, listed
    refused = exchange(client, subject, auth, audience=unlisted.client_id, scope="profile")
    assert refused["_status"] == 400 and refused["error"] == "invalid_target"
    by_resource = exchange(client, subject, auth, resource=unlisted.client_id, scope="profile")
    assert by_resource["error"] == "invalid_target"
    ours = exchange(client, subject, auth, audience=ISSUER, scope="profile")
    assert ours["_status"] == 200  # this provider itself: never wider than the subject


def test_exchange_targets_need_the_grant(services: Services, world: World) -> None:
    with pytest.raises(InvalidClientMetadata):
        client_service(services).register(
            name="窗口", channel=Channel.COUNTER, exchange_targets=["service-x"]
        )
    with pytest.raises(InvalidClientMetadata):
        client_service(services).register(
            name="部门", channel=Channel.SERVICE, exchange_targets=["has space"]
        )


# -- the admin API -------------------------------------------------------------------------


def test_admin_registers_and_changes_the_policy(
    client: TestClient, services: Services, world: World
) -> None:
    admin = make_admin(services, client)
    registered = client.post(
        "/admin/clients",
        json={
            "name": "部门系统",
            "channel": "service",
            "scope": "openid profile",
            "exchange_targets": [world.web_client_id],
        },
        headers=admin.headers,
    )
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert body["exchange_targets"] == [world.web_client_id]
    assert body["require_pushed_authorization_requests"] is False
    portal = client.post(
        f"/admin/clients/{world.web_client_id}/policy",
        json={"require_pushed_authorization_requests": True},
        headers=admin.headers,
    )
    assert portal.status_code == 200, portal.text
    assert portal.json()["require_pushed_authorization_requests"] is True
    _, challenge = pkce_pair()
    plain = client.get(
        "/authorize",
        params=authorize_params(world.web_client_id, challenge),
        follow_redirects=False,
    )
    assert plain.status_code == 400
    opened = client.post(
        f"/admin/clients/{body['client_id']}/policy",
        json={"unrestricted_exchange": True},
        headers=admin.headers,
    )
    assert opened.json()["exchange_targets"] is None
    counter, _ = client_service(services).register(name="窗口", channel=Channel.COUNTER)
    no_grant = client.post(
        f"/admin/clients/{counter.client_id}/policy",
        json={"exchange_targets": ["x"]},
        headers=admin.headers,
    )
    assert no_grant.status_code == 422  # a counter does not exchange tokens
    unknown = client.post(
        "/admin/clients/no-such-client/policy",
        json={"require_pushed_authorization_requests": True},
        headers=admin.headers,
    )
    assert unknown.status_code == 404
    anonymous = client.post(
        f"/admin/clients/{world.web_client_id}/policy",
        json={"require_pushed_authorization_requests": False},
    )
    assert anonymous.status_code == 401
