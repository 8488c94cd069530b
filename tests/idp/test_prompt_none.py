"""``prompt=none`` (OpenID Connect Core §3.1.2.1, §3.1.2.6): the provider shows no page at
all. Where a page would be needed it answers the client with the error that names it
(login_required, consent_required, interaction_required); where none is needed, a code."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient

from core.identifiers.resident_id import check_digit
from core.services import Services
from idp.accounts.service import set_password
from idp.identities.service import IdentityService
from tests.conftest import FrozenClock
from tests.idp.oidc_helpers import (
    CITIZEN_ID,
    PASSWORD,
    REDIRECT,
    World,
    authorize_params,
    callback_params,
    login_and_consent,
    pkce_pair,
)

LOA2 = "urn:govtrust:loa:2"


@pytest.fixture
def loner(services: Services) -> str:
    """A citizen who represents no organisation: nothing to choose after logging in."""
    identities = IdentityService(
        services.sessions, services.identifiers, services.audit, services.idp.ctx.clock
    )
    first17 = "11010519800101001"
    id_number = first17 + check_digit(first17)
    person = identities.register_person(id_number, "李四", "13800138001", actor="test")
    set_password(services.idp, person.id, PASSWORD)
    return id_number


def silently(client: TestClient, world: World, **extra: str) -> httpx.Response:
    """The silent request, followed as a hidden frame would: every step a redirect."""
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge, **{"prompt": "none", **extra})
    response = client.get(f"/authorize?{urlencode(params)}", follow_redirects=False)
    while response.status_code == 303 and not response.headers["location"].startswith(REDIRECT):
        response = client.get(response.headers["location"], follow_redirects=False)
    return response


def logged_in(client: TestClient, world: World, username: str, **extra: str) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge, **extra)
    assert "code" in callback_params(login_and_consent(client, params, username=username))


def test_no_session_is_login_required(client: TestClient, world: World) -> None:
    back = callback_params(silently(client, world))
    assert back["error"] == "login_required" and back["state"] == "st-123"


def test_a_session_with_consent_gets_a_code_without_a_page(
    client: TestClient, world: World, loner: str
) -> None:
    logged_in(client, world, loner)
    back = callback_params(silently(client, world))
    assert "code" in back and "error" not in back


def test_consent_not_given_is_consent_required(
    client: TestClient, world: World, loner: str
) -> None:
    logged_in(client, world, loner)
    back = callback_params(silently(client, world, scope="openid profile phone"))
    assert back["error"] == "consent_required"


def test_a_login_older_than_max_age_is_login_required(
    client: TestClient, world: World, loner: str, clock: FrozenClock
) -> None:
    logged_in(client, world, loner)
    clock.advance(seconds=600)
    assert callback_params(silently(client, world, max_age="60"))["error"] == "login_required"
    assert "code" in callback_params(silently(client, world, max_age="3600"))


def test_a_level_above_the_session_s_is_login_required(
    client: TestClient, world: World, loner: str
) -> None:
    logged_in(client, world, loner)
    assert callback_params(silently(client, world, acr_values=LOA2))["error"] == "login_required"


def test_choosing_whom_to_act_for_is_interaction_required(client: TestClient, world: World) -> None:
    logged_in(client, world, CITIZEN_ID)  # represents a company: chooses at every login
    assert callback_params(silently(client, world))["error"] == "interaction_required"


def test_none_with_another_prompt_is_an_invalid_request(
    client: TestClient, world: World, loner: str
) -> None:
    logged_in(client, world, loner)
    back = callback_params(silently(client, world, prompt="none login"))
    assert back["error"] == "invalid_request"
