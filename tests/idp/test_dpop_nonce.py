"""Server-provided DPoP nonces (RFC 9449 §8 token endpoint, §9 resource servers): the error,
the header, the window and rotation, and the setting that turns them on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from core.app import create_app
from core.services import Services, build_services
from idp.oauth.dpop_nonce import RESOURCE, TOKEN_ENDPOINT, DpopNonces, derive_nonce_key
from tests.conftest import FrozenClock, make_settings
from tests.idp.oidc_helpers import (
    ACCOUNT_TOKEN_SCOPE,
    REDIRECT,
    World,
    authorize_params,
    callback_params,
    login_and_consent,
    pkce_pair,
)
from tests.idp.test_dpop import proof

ISSUER = "https://govtrust.test"
KEY = bytes(range(32))


@pytest.fixture
def nonces(services: Services, clock: FrozenClock) -> DpopNonces:
    enabled = DpopNonces(derive_nonce_key(services.idp.ctx.hash_key), clock)
    services.idp.dpop_nonces = enabled
    return enabled


@pytest.fixture
def client(services: Services, nonces: DpopNonces) -> Iterator[TestClient]:
    yield TestClient(create_app(services=services), base_url=ISSUER)


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256")


# -- the nonces themselves ----------------------------------------------------------------


def test_nonce_window_and_rotation(clock: FrozenClock) -> None:
    nonces = DpopNonces(KEY, clock, window_seconds=60)
    first = nonces.current(TOKEN_ENDPOINT)
    assert nonces.valid(TOKEN_ENDPOINT, first)
    clock.advance(seconds=60)
    second = nonces.current(TOKEN_ENDPOINT)
    assert second != first  # rotated
    assert nonces.valid(TOKEN_ENDPOINT, first)  # the previous one still counts
    clock.advance(seconds=60)
    assert not nonces.valid(TOKEN_ENDPOINT, first)  # two windows later: stale
    assert nonces.valid(TOKEN_ENDPOINT, second)


def test_nonce_is_bound_to_key_and_audience(clock: FrozenClock) -> None:
    nonces = DpopNonces(KEY, clock)
    nonce = nonces.current(TOKEN_ENDPOINT)
    assert not nonces.valid(RESOURCE, nonce)
    assert not DpopNonces(bytes(32), clock).valid(TOKEN_ENDPOINT, nonce)  # another deployment
    # every worker with the same secret accepts it: nothing kept in memory
    assert DpopNonces(KEY, clock).valid(TOKEN_ENDPOINT, nonce)
    for junk in (None, "", "x", "!" * 40, nonce[:-2] + "AA", 12):
        assert not nonces.valid(TOKEN_ENDPOINT, junk)
    clock.advance(seconds=-3600)
    assert not nonces.valid(TOKEN_ENDPOINT, nonce)  # from the future


def test_the_setting_turns_nonces_on(tmp_path: Path, clock: FrozenClock) -> None:
    off = build_services(make_settings(tmp_path / "off"), clock=clock)
    on = build_services(make_settings(tmp_path / "on", dpop_nonce_required=True), clock=clock)
    try:
        assert off.idp.dpop_nonces is None
        assert on.idp.dpop_nonces is not None
    finally:
        off.close()
        on.close()


# -- at the token endpoint (§8) -----------------------------------------------------------


def code_request(client: TestClient, world: World, scope: str = "openid profile") -> dict[str, str]:
    verifier, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge, scope=scope)
    back = callback_params(login_and_consent(client, params))
    return {
        "grant_type": "authorization_code",
        "code": back["code"],
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }


def test_token_endpoint_asks_for_a_nonce(
    client: TestClient, world: World, key: ECKey, clock: FrozenClock, nonces: DpopNonces
) -> None:
    form = code_request(client, world)
    auth = (world.web_client_id, world.web_secret)
    url = f"{ISSUER}/token"
    first = client.post(
        "/token", data=form, auth=auth, headers={"DPoP": proof(key, clock, "POST", url)}
    )
    assert first.status_code == 400 and first.json()["error"] == "use_dpop_nonce"
    nonce = first.headers["DPoP-Nonce"]
    assert nonces.valid(TOKEN_ENDPOINT, nonce)
    wrong = client.post(
        "/token", data=form, auth=auth, headers={"DPoP": proof(key, clock, "POST", url, nonce="x")}
    )
    assert wrong.json()["error"] == "use_dpop_nonce"
    resource_nonce = nonces.current(RESOURCE)
    other_audience = client.post(
        "/token",
        data=form,
        auth=auth,
        headers={"DPoP": proof(key, clock, "POST", url, nonce=resource_nonce)},
    )
    assert other_audience.json()["error"] == "use_dpop_nonce"
    ok = client.post(
        "/token",
        data=form,
        auth=auth,
        headers={"DPoP": proof(key, clock, "POST", url, nonce=nonce)},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["token_type"] == "DPoP"
    assert nonces.valid(TOKEN_ENDPOINT, ok.headers["DPoP-Nonce"])  # §8.2: a fresh one


def test_a_stale_nonce_is_refused(
    client: TestClient, world: World, key: ECKey, clock: FrozenClock, nonces: DpopNonces
) -> None:
    stale = nonces.current(TOKEN_ENDPOINT)
    clock.advance(seconds=2 * nonces.window_seconds)
    form = code_request(client, world)
    refused = client.post(
        "/token",
        data=form,
        auth=(world.web_client_id, world.web_secret),
        headers={"DPoP": proof(key, clock, "POST", f"{ISSUER}/token", nonce=stale)},
    )
    assert refused.json()["error"] == "use_dpop_nonce"
    assert refused.headers["DPoP-Nonce"] != stale


def test_requests_without_dpop_need_no_nonce(client: TestClient, world: World) -> None:
    ok = client.post(
        "/token", data=code_request(client, world), auth=(world.web_client_id, world.web_secret)
    )
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
    assert "DPoP-Nonce" not in ok.headers


# -- at resource servers (§9) -------------------------------------------------------------


def bound_token(
    client: TestClient, world: World, key: ECKey, clock: FrozenClock, nonces: DpopNonces
) -> str:
    response = client.post(
        "/token",
        data=code_request(client, world, ACCOUNT_TOKEN_SCOPE),  # /userinfo and /me
        auth=(world.web_client_id, world.web_secret),
        headers={
            "DPoP": proof(
                key, clock, "POST", f"{ISSUER}/token", nonce=nonces.current(TOKEN_ENDPOINT)
            )
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.mark.parametrize("path", ["/userinfo", "/me"])
def test_resource_asks_for_a_nonce(
    client: TestClient,
    world: World,
    key: ECKey,
    clock: FrozenClock,
    nonces: DpopNonces,
    path: str,
) -> None:
    token = bound_token(client, world, key, clock, nonces)
    url = f"{ISSUER}{path}"
    bare = client.get(
        path,
        headers={"Authorization": f"DPoP {token}", "DPoP": proof(key, clock, "GET", url, token)},
    )
    assert bare.status_code == 401
    challenge = bare.headers["WWW-Authenticate"]
    assert challenge.startswith("DPoP ") and 'error="use_dpop_nonce"' in challenge
    nonce = bare.headers["DPoP-Nonce"]
    assert nonces.valid(RESOURCE, nonce)
    token_endpoint_nonce = nonces.current(TOKEN_ENDPOINT)
    crossed = client.get(
        path,
        headers={
            "Authorization": f"DPoP {token}",
            "DPoP": proof(key, clock, "GET", url, token, nonce=token_endpoint_nonce),
        },
    )
    assert crossed.status_code == 401
    ok = client.get(
        path,
        headers={
            "Authorization": f"DPoP {token}",
            "DPoP": proof(key, clock, "GET", url, token, nonce=nonce),
        },
    )
    assert ok.status_code == 200, ok.text
