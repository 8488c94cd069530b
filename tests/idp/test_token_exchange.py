"""Token exchange (RFC 8693): app-to-web native SSO and narrower tokens for downstream
services; never a wider scope or a longer life; each rule with its refusal."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from sqlalchemy import select

from core.app import create_app
from core.audit.storage import AuditEntryRow
from core.services import Services
from idp.clients.channels import TOKEN_EXCHANGE, Channel
from idp.oauth import jws
from idp.oauth.access_tokens import token_keys
from idp.oauth.dpop import thumbprint
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
from tests.idp.test_dpop import proof

ISSUER = "https://govtrust.test"
APP_REDIRECT = "cn.gov.example.app:/callback"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"


@dataclass
class Services2:
    """A department system and the downstream service it calls (both ``service``)."""

    department_id: str
    department_secret: str
    downstream_id: str
    relay_id: str
    relay_secret: str


@pytest.fixture
def world(services: Services) -> World:
    return build_world(services)


@pytest.fixture
def systems(services: Services, world: World) -> Services2:
    clients = client_service(services)
    department, department_secret = clients.register(
        name="不动产登记系统", channel=Channel.SERVICE, scope="openid profile phone"
    )
    downstream, _ = clients.register(
        name="档案查询服务", channel=Channel.SERVICE, scope="openid profile"
    )
    relay, relay_secret = clients.register(
        name="公积金系统", channel=Channel.SERVICE, scope="openid profile"
    )
    assert department_secret and relay_secret and TOKEN_EXCHANGE in department.grant_types
    return Services2(
        department.client_id, department_secret, downstream.client_id, relay.client_id, relay_secret
    )


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    yield TestClient(create_app(services=services), base_url=ISSUER)


def web_tokens(
    client: TestClient,
    world: World,
    scope: str = "openid profile phone",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    back = callback_params(
        login_and_consent(client, authorize_params(world.web_client_id, challenge, scope=scope))
    )
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(world.web_client_id, world.web_secret),
        headers=headers or {},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def app_tokens(client: TestClient, world: World) -> dict[str, Any]:
    """The mobile app's tokens (a public client, channel app)."""
    verifier, challenge = pkce_pair()
    params = authorize_params(world.app_client_id, challenge, redirect_uri=APP_REDIRECT)
    final = login_and_consent(client, params)
    assert final.headers["location"].startswith(APP_REDIRECT)
    code = parse_qs(urlsplit(final.headers["location"]).query)["code"][0]
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": APP_REDIRECT,
            "code_verifier": verifier,
            "client_id": world.app_client_id,
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def exchange(
    client: TestClient,
    subject_token: str,
    auth: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
    **form: str,
) -> dict[str, Any]:
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        **form,
    }
    response = client.post("/token", data=data, auth=auth, headers=headers or {})
    body: dict[str, Any] = response.json()
    body["_status"] = response.status_code
    return body


def verified(services: Services, token: str) -> dict[str, Any]:
    """The claims of a token signed by the provider's token key."""
    return jws.verify(token, token_keys(services.idp.ctx), typ="at+jwt")


def test_discovery_lists_token_exchange(client: TestClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").json()
    assert TOKEN_EXCHANGE in metadata["grant_types_supported"]


def test_app_exchanges_its_token_for_the_web_portal(
    client: TestClient, world: World, services: Services
) -> None:
    subject = app_tokens(client, world)
    body = exchange(
        client,
        subject["access_token"],
        client_id=world.app_client_id,
        audience=world.web_client_id,
    )
    assert body["_status"] == 200, body
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and body["token_type"] == "Bearer"
    assert body["scope"] == "openid profile" and "refresh_token" not in body
    claims = verified(services, body["access_token"])
    assert claims["aud"] == world.web_client_id
    assert claims["sub"] == world.citizen_subject  # the same person
    assert claims["client_id"] == world.app_client_id
    assert claims["act"] == {"client_id": world.app_client_id}
    original = verified(services, subject["access_token"])
    assert claims["exp"] <= original["exp"] and claims["acr"] == original["acr"]


def test_public_client_may_exchange_only_its_own_tokens(client: TestClient, world: World) -> None:
    web = web_tokens(client, world, scope="openid profile")
    body = exchange(
        client, web["access_token"], client_id=world.app_client_id, audience=world.web_client_id
    )
    assert body["_status"] == 400 and body["error"] == "invalid_request"


def test_department_system_narrows_a_persons_token(
    client: TestClient, world: World, systems: Services2, services: Services
) -> None:
    subject = web_tokens(client, world, scope="openid profile phone")
    auth = (systems.department_id, systems.department_secret)
    body = exchange(
        client, subject["access_token"], auth, audience=systems.downstream_id, scope="profile"
    )
    assert body["_status"] == 200, body
    assert body["scope"] == "profile"
    claims = verified(services, body["access_token"])
    assert claims["aud"] == systems.downstream_id and claims["scope"] == "profile"
    assert claims["sub"] == world.citizen_subject
    assert claims["act"] == {"client_id": systems.department_id}
    # by default: what the subject token holds that the downstream service is registered for
    default = exchange(client, subject["access_token"], auth, resource=systems.downstream_id)
    assert default["_status"] == 200 and default["scope"] == "openid profile"
    # the exchange is audited, naming the system that exchanged
    with services.sessions() as session:
        rows = list(
            session.scalars(
                select(AuditEntryRow).where(AuditEntryRow.action == "oauth.token_exchanged")
            )
        )
    assert [row.actor for row in rows] == [systems.department_id, systems.department_id]


def test_scope_is_never_widened(client: TestClient, world: World, systems: Services2) -> None:
    subject = web_tokens(client, world, scope="openid profile")
    auth = (systems.department_id, systems.department_secret)
    wider = exchange(client, subject["access_token"], auth, scope="openid profile phone")
    assert wider["_status"] == 400 and wider["error"] == "invalid_scope"
    narrower = exchange(client, subject["access_token"], auth, scope="openid")
    assert narrower["_status"] == 200 and narrower["scope"] == "openid"
    # held by the subject token, but not registered for the downstream service
    held = web_tokens(client, world, scope="openid phone")
    unregistered = exchange(
        client, held["access_token"], auth, audience=systems.downstream_id, scope="phone"
    )
    assert unregistered["error"] == "invalid_scope"


def test_unknown_audience_is_invalid_target(
    client: TestClient, world: World, systems: Services2
) -> None:
    subject = web_tokens(client, world)
    auth = (systems.department_id, systems.department_secret)
    unknown = exchange(client, subject["access_token"], auth, audience="https://evil.example")
    assert unknown["_status"] == 400 and unknown["error"] == "invalid_target"
    two = exchange(
        client,
        subject["access_token"],
        auth,
        audience=systems.downstream_id,
        resource=world.web_client_id,
    )
    assert two["error"] == "invalid_target"
    ours = exchange(client, subject["access_token"], auth, audience=ISSUER)
    assert ours["_status"] == 200


def test_revoked_subject_token_is_refused(
    client: TestClient, world: World, systems: Services2
) -> None:
    auth = (systems.department_id, systems.department_secret)
    subject = web_tokens(client, world)
    assert exchange(client, subject["access_token"], auth)["_status"] == 200
    web_auth = (world.web_client_id, world.web_secret)
    client.post("/revoke", data={"token": subject["access_token"]}, auth=web_auth)
    revoked = exchange(client, subject["access_token"], auth)
    assert revoked["_status"] == 400 and revoked["error"] == "invalid_request"
    # revoking the grant (through its refresh token) reaches the exchanged tokens too
    other = web_tokens(client, world, scope="openid profile offline_access")
    exchanged = exchange(client, other["access_token"], auth)
    client.post("/revoke", data={"token": other["refresh_token"]}, auth=web_auth)
    assert exchange(client, other["access_token"], auth)["error"] == "invalid_request"
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {exchanged['access_token']}"})
    assert info.status_code == 401


def test_lifetime_is_never_extended(
    client: TestClient, world: World, systems: Services2, services: Services, clock: FrozenClock
) -> None:
    auth = (systems.department_id, systems.department_secret)
    subject = web_tokens(client, world)
    subject_exp = verified(services, subject["access_token"])["exp"]
    clock.advance(minutes=8)
    body = exchange(client, subject["access_token"], auth)
    assert body["_status"] == 200
    assert verified(services, body["access_token"])["exp"] == subject_exp
    assert body["expires_in"] == 120
    clock.advance(minutes=3)
    late = exchange(client, subject["access_token"], auth)
    assert late["_status"] == 400 and late["error"] == "invalid_request"


def test_act_names_every_client_that_exchanged(
    client: TestClient, world: World, systems: Services2, services: Services
) -> None:
    subject = web_tokens(client, world)
    first = exchange(client, subject["access_token"], (systems.relay_id, systems.relay_secret))
    assert first["_status"] == 200, first
    first_claims = verified(services, first["access_token"])
    assert first_claims["aud"] == ISSUER and first_claims["act"] == {"client_id": systems.relay_id}
    # usable here: userinfo names the person and the actor
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == world.citizen_subject
    second = exchange(
        client,
        first["access_token"],
        (systems.department_id, systems.department_secret),
        audience=systems.downstream_id,
    )
    assert second["_status"] == 200, second
    assert verified(services, second["access_token"])["act"] == {
        "client_id": systems.department_id,
        "act": {"client_id": systems.relay_id},
    }


def test_organisation_token_keeps_the_acting_person_in_act(
    client: TestClient, world: World, systems: Services2, services: Services
) -> None:
    verifier, challenge = pkce_pair()
    back = callback_params(
        login_and_consent(
            client,
            authorize_params(world.web_client_id, challenge, scope="openid profile"),
            acting_as=world.company_id,
        )
    )
    tokens = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(world.web_client_id, world.web_secret),
    ).json()
    body = exchange(
        client,
        tokens["access_token"],
        (systems.department_id, systems.department_secret),
        audience=systems.downstream_id,
    )
    claims = verified(services, body["access_token"])
    assert claims["sub"] == f"org-{world.company_id}"
    assert claims["act"] == {
        "client_id": systems.department_id,
        "act": {"sub": world.citizen_subject},
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"subject_token_type": ID_TOKEN_TYPE},
        {"subject_token_type": None},
        {"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
        {"actor_token": "x", "actor_token_type": ACCESS_TOKEN_TYPE},
    ],
)
def test_unsupported_requests_are_refused(
    client: TestClient, world: World, systems: Services2, changes: dict[str, str | None]
) -> None:
    subject = web_tokens(client, world)
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject["access_token"],
        "subject_token_type": ACCESS_TOKEN_TYPE,
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    response = client.post(
        "/token", data=data, auth=(systems.department_id, systems.department_secret)
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_id_token_or_garbage_is_not_a_subject_token(
    client: TestClient, world: World, systems: Services2
) -> None:
    auth = (systems.department_id, systems.department_secret)
    tokens = web_tokens(client, world)
    for bad in (tokens["id_token"], "garbage", tokens["access_token"][:-4] + "AAAA", ""):
        body = exchange(client, bad, auth)
        assert body["_status"] == 400 and body["error"] == "invalid_request", bad
    # a client's own token (client credentials) names no person
    own = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(world.service_client_id, world.service_secret),
    ).json()
    assert exchange(client, own["access_token"], auth)["error"] == "invalid_request"


def test_clients_without_the_grant_are_refused(
    client: TestClient, world: World, services: Services
) -> None:
    clients = client_service(services)
    kiosk, secret = clients.register(name="自助终端", channel=Channel.KIOSK, scope="openid")
    assert secret
    subject = web_tokens(client, world)
    body = exchange(client, subject["access_token"], (kiosk.client_id, secret))
    assert body["_status"] == 400 and body["error"] == "unauthorized_client"
    wrong_secret = exchange(client, subject["access_token"], (world.service_client_id, "wrong"))
    assert wrong_secret["_status"] == 401 and wrong_secret["error"] == "invalid_client"


def test_dpop_bound_subject_token_needs_its_key(
    client: TestClient, world: World, services: Services, clock: FrozenClock
) -> None:
    key = ECKey.generate_key("P-256")
    token_url = f"{ISSUER}/token"
    subject = web_tokens(client, world, headers={"DPoP": proof(key, clock, "POST", token_url)})
    assert subject["token_type"] == "DPoP"
    auth = (world.web_client_id, world.web_secret)
    bare = exchange(client, subject["access_token"], auth)
    assert bare["_status"] == 400 and bare["error"] == "invalid_request"
    other = ECKey.generate_key("P-256")
    stolen = exchange(
        client,
        subject["access_token"],
        auth,
        headers={"DPoP": proof(other, clock, "POST", token_url)},
    )
    assert stolen["error"] == "invalid_request"
    bound = exchange(
        client,
        subject["access_token"],
        auth,
        headers={"DPoP": proof(key, clock, "POST", token_url)},
    )
    assert bound["_status"] == 200 and bound["token_type"] == "DPoP"
    jkt = thumbprint(key.as_dict(private=False))
    assert verified(services, bound["access_token"])["cnf"] == {"jkt": jkt}
