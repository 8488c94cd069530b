"""Brute-force protection on the login page: lockout that looks like a wrong password."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from core.services import Services
from idp.credentials.throttle import LoginThrottle
from idp.login import account_key
from tests.idp.oidc_helpers import (
    CITIZEN_ID,
    World,
    authorize_params,
    build_world,
    callback_params,
    login_and_consent,
    pkce_pair,
)

FAILED = "账号或密码不正确"


@pytest.fixture
def world(services: Services) -> World:
    services.idp.throttle = LoginThrottle(
        services.cache, clock=services.idp.ctx.clock, per_account_limit=3, base_delay=0, max_delay=0
    )
    return build_world(services)


def attempt(client: TestClient, world: World, password: str) -> str:
    _, challenge = pkce_pair()
    response = login_and_consent(
        client, authorize_params(world.web_client_id, challenge), password=password
    )
    return "code" if response.status_code == 303 else response.text


def test_lockout_after_repeated_failures_and_admin_unlock(
    client: TestClient, world: World, services: Services
) -> None:
    for _ in range(3):
        assert FAILED in attempt(client, world, "wrong-password-123")
    # locked: even the right password gets the wrong-password answer
    assert FAILED in attempt(client, world, "Correct-Horse-42-Battery")
    services.idp.throttle.unlock(account_key(services.idp, CITIZEN_ID))
    _, challenge = pkce_pair()
    final = login_and_consent(client, authorize_params(world.web_client_id, challenge))
    assert callback_params(final)["code"]


def test_lockout_expires(client: TestClient, world: World, services: Services, clock) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        attempt(client, world, "wrong-password-123")
    assert FAILED in attempt(client, world, "Correct-Horse-42-Battery")
    clock.advance(minutes=16)
    assert attempt(client, world, "Correct-Horse-42-Battery") == "code"


def test_full_width_spelling_counts_against_the_same_account(
    client: TestClient, world: World
) -> None:
    full_width = CITIZEN_ID.translate({ord(c): 0xFF10 + int(c) for c in "0123456789"})
    assert full_width != CITIZEN_ID
    for username in (CITIZEN_ID, full_width, f" {CITIZEN_ID} "):
        _, challenge = pkce_pair()
        login_and_consent(
            client,
            authorize_params(world.web_client_id, challenge),
            username=username,
            password="wrong-password-123",
        )
    assert FAILED in attempt(client, world, "Correct-Horse-42-Battery")
