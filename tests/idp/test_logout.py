"""RP-Initiated Logout 1.0 and Back-Channel Logout 1.0."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi.testclient import TestClient

from core.services import Services
from idp.clients.channels import Channel
from tests.idp.oidc_helpers import (
    REDIRECT,
    World,
    authorize_params,
    build_world,
    callback_params,
    client_service,
    csrf_of,
    login_and_consent,
    pkce_pair,
)

AFTER_LOGOUT = "https://portal.example.gov.cn/bye"
BACKCHANNEL = "https://portal.example.gov.cn/backchannel"


class Receiver:
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = parse_qs(request.content.decode())
        self.tokens.append(body["logout_token"][0])
        return httpx.Response(200)


@pytest.fixture
def receiver(services: Services) -> Receiver:
    received = Receiver()
    services.idp.http = httpx.Client(transport=httpx.MockTransport(received))
    return received


@pytest.fixture
def world(services: Services) -> World:
    built = build_world(services)
    clients = client_service(services)
    portal, secret = clients.register(
        name="带退出的门户",
        channel=Channel.WEB,
        redirect_uris=[REDIRECT],
        post_logout_redirect_uris=[AFTER_LOGOUT],
        backchannel_logout_uri=BACKCHANNEL,
        scope="openid profile offline_access",
    )
    assert secret
    built.web_client_id, built.web_secret = portal.client_id, secret
    return built


def claims(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def logged_in(client: TestClient, world: World) -> dict[str, str]:
    verifier, challenge = pkce_pair()
    back = callback_params(
        login_and_consent(
            client,
            authorize_params(world.web_client_id, challenge, scope="openid profile offline_access"),
        )
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
    )
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_logout_with_id_token_hint_ends_everything(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    tokens = logged_in(client, world)
    response = client.get(
        "/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": AFTER_LOGOUT,
            "state": "bye-1",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{AFTER_LOGOUT}?state=bye-1"
    # the session is gone: the next authorization asks for the password again
    _, challenge = pkce_pair()
    start = client.get(
        "/authorize",
        params=authorize_params(world.web_client_id, challenge),
        follow_redirects=False,
    )
    assert 'name="password"' in client.get(start.headers["location"]).text
    # the grant is revoked and the client was told, with a well-formed logout token
    refreshed = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(world.web_client_id, world.web_secret),
    )
    assert refreshed.json()["error"] == "invalid_grant"
    assert len(receiver.tokens) == 1
    header = json.loads(base64.urlsafe_b64decode(receiver.tokens[0].split(".")[0] + "=="))
    logout_claims = claims(receiver.tokens[0])
    id_claims = claims(tokens["id_token"])
    assert header["typ"] == "logout+jwt"
    assert logout_claims["aud"] == world.web_client_id
    assert logout_claims["sid"] == id_claims["sid"] and logout_claims["sub"] == id_claims["sub"]
    assert "http://schemas.openid.net/event/backchannel-logout" in logout_claims["events"]  # type: ignore[operator]
    assert "nonce" not in logout_claims


def test_logout_without_hint_asks_first(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    logged_in(client, world)
    page = client.get(
        "/logout",
        params={"client_id": world.web_client_id, "post_logout_redirect_uri": AFTER_LOGOUT},
    )
    assert page.status_code == 200 and 'name="csrf"' in page.text
    forged = client.post("/logout", data={"csrf": "forged"}, follow_redirects=False)
    assert forged.status_code == 400
    confirmed = client.post(
        "/logout",
        data={"csrf": csrf_of(page.text), "redirect_uri": AFTER_LOGOUT},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303 and confirmed.headers["location"] == AFTER_LOGOUT
    assert len(receiver.tokens) == 1


@pytest.mark.parametrize(
    "redirect",
    ["https://evil.example/", AFTER_LOGOUT + "/", REDIRECT],
)
def test_unregistered_post_logout_redirect_is_refused(
    client: TestClient, world: World, receiver: Receiver, redirect: str
) -> None:
    tokens = logged_in(client, world)
    response = client.get(
        "/logout",
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": redirect},
        follow_redirects=False,
    )
    assert response.status_code == 400 and "location" not in response.headers
    assert receiver.tokens == []


def test_forged_id_token_hint_is_refused(
    client: TestClient, world: World, receiver: Receiver
) -> None:
    tokens = logged_in(client, world)
    head, body, sig = tokens["id_token"].split(".")
    tampered = f"{head}.{body[:-3]}AAA.{sig}"
    assert client.get("/logout", params={"id_token_hint": tampered}).status_code == 400
    _, challenge = pkce_pair()  # still logged in
    start = client.get(
        "/authorize",
        params=authorize_params(world.web_client_id, challenge),
        follow_redirects=False,
    )
    assert 'name="password"' not in client.get(start.headers["location"]).text
    assert receiver.tokens == [] and tokens["refresh_token"]
