"""Pushed authorization requests (RFC 9126): single-use, short-lived, bound to the client."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.idp.oidc_helpers import (
    REDIRECT,
    World,
    authorize_params,
    callback_params,
    login_and_consent,
    pkce_pair,
)


def push(client: TestClient, world: World, **params: str):  # type: ignore[no-untyped-def]
    return client.post("/par", data=params, auth=(world.web_client_id, world.web_secret))


def test_pushed_request_is_used_once(client: TestClient, world: World) -> None:
    verifier, challenge = pkce_pair()
    pushed = push(client, world, **authorize_params(world.web_client_id, challenge))
    assert pushed.status_code == 201, pushed.text
    body = pushed.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert body["expires_in"] == 60
    params = {"client_id": world.web_client_id, "request_uri": body["request_uri"]}
    back = callback_params(login_and_consent(client, params))
    assert back["state"] == "st-123"
    tokens = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(world.web_client_id, world.web_secret),
    )
    assert tokens.status_code == 200
    again = client.get("/authorize", params=params, follow_redirects=False)
    assert again.status_code == 400


def test_request_uri_is_bound_to_its_client(client: TestClient, world: World) -> None:
    _, challenge = pkce_pair()
    body = push(client, world, **authorize_params(world.web_client_id, challenge)).json()
    stolen = client.get(
        "/authorize",
        params={"client_id": world.app_client_id, "request_uri": body["request_uri"]},
        follow_redirects=False,
    )
    assert stolen.status_code == 400


def test_pushed_requests_are_validated_and_authenticated(client: TestClient, world: World) -> None:
    _, challenge = pkce_pair()
    bad_redirect = push(
        client,
        world,
        **authorize_params(world.web_client_id, challenge, redirect_uri="https://evil.example/cb"),
    )
    assert bad_redirect.status_code == 400 and "error" in bad_redirect.json()
    no_pkce = authorize_params(world.web_client_id, challenge)
    no_pkce.pop("code_challenge")
    assert push(client, world, **no_pkce).json()["error"] == "invalid_request"
    anonymous = client.post("/par", data=authorize_params(world.web_client_id, challenge))
    assert anonymous.status_code == 401
    nested = push(
        client,
        world,
        request_uri="urn:ietf:params:oauth:request_uri:x",
        **authorize_params(world.web_client_id, challenge),
    )
    assert nested.json()["error"] == "invalid_request"
    made_up = client.get(
        "/authorize",
        params={
            "client_id": world.web_client_id,
            "request_uri": "urn:ietf:params:oauth:request_uri:nope",
        },
        follow_redirects=False,
    )
    assert made_up.status_code == 400
