"""private_key_jwt client authentication (RFC 7523 §2.2), with replay and audience checks."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from core.services import Services
from idp.clients.channels import Channel
from idp.clients.service import InvalidClientMetadata
from tests.idp.oidc_helpers import client_service

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "k1"})


@pytest.fixture
def client_id(services: Services, key: ECKey) -> str:
    clients = client_service(services)
    registered, secret = clients.register(
        name="用私钥认证的部门系统",
        channel=Channel.SERVICE,
        scope="licence:read",
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    assert secret is None
    return registered.client_id


def assertion(key: ECKey, client_id: str, **changes: object) -> str:
    now = int(time.time())  # Authlib checks assertions against the wall clock
    claims: dict[str, object] = {
        "iss": client_id,
        "sub": client_id,
        "aud": "https://govtrust.test/token",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    claims.update(changes)
    return jwt.encode({"alg": "ES256", "kid": "k1"}, claims, key)


def grant(client: TestClient, token: str) -> dict[str, object]:
    response = client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": token,
        },
    )
    body: dict[str, object] = response.json()
    body["_status"] = response.status_code
    return body


def test_signed_assertion_authenticates(
    client: TestClient, client_id: str, key: ECKey, services: Services
) -> None:
    body = grant(client, assertion(key, client_id))
    assert body["_status"] == 200, body


def test_replayed_assertion_is_refused(
    client: TestClient, client_id: str, key: ECKey, services: Services
) -> None:
    token = assertion(key, client_id)
    assert grant(client, token)["_status"] == 200
    assert grant(client, token)["error"] == "invalid_client"


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "https://other.example/token"},
        {"iss": "someone-else"},
        {"exp": int(time.time()) - 3600},
    ],
)
def test_bad_assertions_are_refused(
    client: TestClient, client_id: str, key: ECKey, services: Services, changes: dict[str, object]
) -> None:
    assert grant(client, assertion(key, client_id, **changes))["error"] == "invalid_client"


def test_assertion_signed_by_another_key_is_refused(
    client: TestClient, client_id: str, services: Services
) -> None:
    other = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    assert grant(client, assertion(other, client_id))["error"] == "invalid_client"


def test_registration_refuses_private_or_missing_keys(services: Services, key: ECKey) -> None:
    clients = client_service(services)
    for jwks in (None, {"keys": []}, {"keys": [key.as_dict(private=True)]}):
        with pytest.raises(InvalidClientMetadata):
            clients.register(
                name="x",
                channel=Channel.SERVICE,
                scope="licence:read",
                token_endpoint_auth_method="private_key_jwt",
                jwks=jwks,
            )
