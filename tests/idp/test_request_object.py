"""JWT-secured authorization requests (RFC 9101): request objects by value, at /authorize and
inside PAR; signed by the client's registered key, each check beside its refusal."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from core.services import Services
from idp.clients.channels import Channel
from tests.conftest import FrozenClock
from tests.idp.oidc_helpers import (
    REDIRECT,
    World,
    authorize_params,
    callback_params,
    client_service,
    login_and_consent,
    pkce_pair,
)
from tests.idp.test_private_key_jwt import ASSERTION_TYPE, assertion

ISSUER = "https://govtrust.test"


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "k1"})


@pytest.fixture
def portal(services: Services, world: World, key: ECKey) -> str:
    """A web client that authenticates with private_key_jwt, so it has registered keys."""
    registered, _ = client_service(services).register(
        name="不动产登记网站",
        channel=Channel.WEB,
        redirect_uris=[REDIRECT],
        scope="openid profile",
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    return registered.client_id


def request_object(
    key: ECKey,
    clock: FrozenClock,
    sender: str,
    header: dict[str, Any] | None = None,
    **changes: Any,
) -> str:
    """A request object of ``sender``; ``changes`` replace claims (None removes one)."""
    _, challenge = pkce_pair()
    now = int(clock.now.timestamp())
    claims: dict[str, Any] = {
        "iss": sender,
        "aud": ISSUER,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        **authorize_params(sender, challenge, state="from-the-object"),
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(
        header or {"alg": "ES256", "kid": "k1", "typ": "oauth-authz-req+jwt"}, claims, key
    )


def authorize(client: TestClient, **params: str) -> Any:
    return client.get("/authorize", params=params, follow_redirects=False)


def test_request_object_by_value_is_used_instead_of_the_query(
    client: TestClient, portal: str, key: ECKey, clock: FrozenClock
) -> None:
    signed = request_object(key, clock, portal)
    # RFC 9101 §6.3: only the object's parameters count; the outer state is ignored
    params = {"client_id": portal, "request": signed, "state": "outer", "scope": "openid phone"}
    back = callback_params(login_and_consent(client, params))
    assert back["state"] == "from-the-object" and "code" in back


def test_an_error_answer_carries_the_object_s_state(
    client: TestClient, portal: str, key: ECKey, clock: FrozenClock
) -> None:
    """RFC 6749 §4.1.2.1: the error goes back with the request's own state, the signed
    one, not the unsigned outer one (RFC 9101 §6.3)."""
    signed = request_object(key, clock, portal, code_challenge_method="plain")  # refused
    back = callback_params(authorize(client, client_id=portal, request=signed, state="outer"))
    assert back["error"] == "invalid_request" and back["state"] == "from-the-object"


def test_unsigned_request_object_is_refused(
    client: TestClient, portal: str, key: ECKey, clock: FrozenClock
) -> None:
    signed = request_object(key, clock, portal)
    header, payload, _ = signed.split(".")
    unsigned_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    for token in (f"{unsigned_header}.{payload}.", f"{header}.{payload}.", "not-a-jwt"):
        refused = authorize(client, client_id=portal, request=token)
        assert refused.status_code == 400 and "invalid_request_object" in refused.text


def test_wrong_key_is_refused(client: TestClient, portal: str, clock: FrozenClock) -> None:
    other = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    refused = authorize(client, client_id=portal, request=request_object(other, clock, portal))
    assert refused.status_code == 400 and "invalid_request_object" in refused.text
    assert "location" not in refused.headers  # never redirected on an untrusted object


def test_client_without_keys_cannot_send_request_objects(
    client: TestClient, world: World, key: ECKey, clock: FrozenClock
) -> None:
    signed = request_object(key, clock, world.web_client_id)
    refused = authorize(client, client_id=world.web_client_id, request=signed)
    assert refused.status_code == 400 and "invalid_request_object" in refused.text


def test_expired_and_too_long_lived_objects_are_refused(
    client: TestClient, portal: str, key: ECKey, clock: FrozenClock
) -> None:
    now = int(clock.now.timestamp())
    expired = request_object(key, clock, portal, exp=now - 120)
    assert authorize(client, client_id=portal, request=expired).status_code == 400
    missing_exp = request_object(key, clock, portal, exp=None)
    assert authorize(client, client_id=portal, request=missing_exp).status_code == 400
    forever = request_object(key, clock, portal, exp=now + 86400)
    assert authorize(client, client_id=portal, request=forever).status_code == 400


def test_mismatched_client_issuer_or_audience_is_refused(
    client: TestClient, portal: str, world: World, key: ECKey, clock: FrozenClock
) -> None:
    signed = request_object(key, clock, portal)
    other_client = authorize(client, client_id=world.web_client_id, request=signed)
    assert other_client.status_code == 400
    wrong_iss = request_object(key, clock, portal, iss=world.web_client_id)
    assert authorize(client, client_id=portal, request=wrong_iss).status_code == 400
    inner_client = request_object(key, clock, portal, client_id=world.web_client_id)
    assert authorize(client, client_id=portal, request=inner_client).status_code == 400
    wrong_aud = request_object(key, clock, portal, aud="https://other.example")
    assert authorize(client, client_id=portal, request=wrong_aud).status_code == 400
    outer_type = authorize(client, client_id=portal, request=signed, response_type="token")
    assert outer_type.status_code == 400
    nested = request_object(key, clock, portal, request_uri="urn:x")
    assert authorize(client, client_id=portal, request=nested).status_code == 400


def test_request_object_is_used_once(
    client: TestClient, portal: str, key: ECKey, clock: FrozenClock
) -> None:
    signed = request_object(key, clock, portal)
    assert authorize(client, client_id=portal, request=signed).status_code == 303
    again = authorize(client, client_id=portal, request=signed)
    assert again.status_code == 400 and "already" in again.text


def push(client: TestClient, key: ECKey, portal: str, **form: str) -> Any:
    return client.post(
        "/par",
        data={
            "client_id": portal,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(key, portal),
            **form,
        },
    )


def test_request_object_inside_par(
    client: TestClient, portal: str, key: ECKey, clock: FrozenClock
) -> None:
    pushed = push(client, key, portal, request=request_object(key, clock, portal))
    assert pushed.status_code == 201, pushed.text
    params = {"client_id": portal, "request_uri": pushed.json()["request_uri"]}
    back = callback_params(login_and_consent(client, params))
    assert back["state"] == "from-the-object"


def test_bad_request_object_inside_par(
    client: TestClient, portal: str, key: ECKey, clock: FrozenClock
) -> None:
    now = int(clock.now.timestamp())
    expired = push(client, key, portal, request=request_object(key, clock, portal, exp=now - 60))
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_request_object"
    other = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    wrong_key = push(client, key, portal, request=request_object(other, clock, portal))
    assert wrong_key.json()["error"] == "invalid_request_object"


def test_discovery_announces_request_objects(client: TestClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").json()
    assert metadata["request_parameter_supported"] is True
    assert "none" not in metadata["request_object_signing_alg_values_supported"]
