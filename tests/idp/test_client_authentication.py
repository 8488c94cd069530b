"""Client authentication at the token, introspection, revocation and PAR endpoints
(RFC 6749 §2.3, §5.2; RFC 7662 §2.1; RFC 7009 §2.1; RFC 9126 §2): whatever a client sends,
a failed authentication is ``401 invalid_client`` in OAuth JSON, with a ``WWW-Authenticate``
challenge when it tried the Authorization header, never a 500."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from tests.idp.oidc_helpers import World

ENDPOINTS = ("/token", "/introspect", "/revoke", "/par")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assert_invalid_client(response, challenged: bool) -> None:  # type: ignore[no-untyped-def]
    # §5.2: 401 with the scheme's challenge when the client tried the header; 400 or 401
    assert response.status_code in ((401,) if challenged else (400, 401)), response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "invalid_client"
    assert response.headers["cache-control"] == "no-store"
    if challenged:
        assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "credentials",
    [
        "Basic é",  # not ASCII
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),  # not UTF-8
        "Basic !!!!",  # not base64
    ],
    ids=["not-ascii", "not-utf8", "not-base64"],
)
def test_malformed_basic_credentials_are_invalid_client(
    client: TestClient, world: World, endpoint: str, credentials: str
) -> None:
    data = {"grant_type": "client_credentials", "token": "x", "response_type": "code"}
    # as the bytes a client sent: httpx would refuse a str header that is not ASCII
    headers = {"Authorization": credentials.encode("utf-8")}
    response = client.post(endpoint, data=data, headers=headers)
    assert_invalid_client(response, challenged=True)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_wrong_secret_in_the_header_is_challenged(
    client: TestClient, world: World, endpoint: str
) -> None:
    data = {"grant_type": "client_credentials", "token": "x", "response_type": "code"}
    response = client.post(endpoint, data=data, auth=(world.service_client_id, "wrong"))
    assert_invalid_client(response, challenged=True)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_assertion_naming_a_client_without_keys_is_invalid_client(
    client: TestClient, world: World, endpoint: str
) -> None:
    """private_key_jwt (RFC 7523 §3) for a client registered with no keys (the public app)."""
    issuer = client.get("/.well-known/openid-configuration").json()["issuer"]
    claims = {
        "iss": world.app_client_id,
        "sub": world.app_client_id,
        "aud": f"{issuer}/token",
        "exp": 4102444800,
        "jti": "one",
    }
    header = b64url(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
    assertion = f"{header}.{b64url(json.dumps(claims).encode())}.{b64url(b'x' * 64)}"
    data = {
        "grant_type": "client_credentials",
        "token": "x",
        "response_type": "code",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
    }
    assert_invalid_client(client.post(endpoint, data=data), challenged=False)


def test_a_public_client_may_not_introspect(client: TestClient, world: World) -> None:
    """RFC 7662 §2.1, §4: introspection answers a token's claims, so the caller must
    authenticate; a public client (``none``) cannot."""
    token = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(world.service_client_id, world.service_secret),
    ).json()["access_token"]
    as_public = client.post("/introspect", data={"token": token, "client_id": world.app_client_id})
    assert_invalid_client(as_public, challenged=False)
    as_service = client.post(
        "/introspect", data={"token": token}, auth=(world.service_client_id, world.service_secret)
    )
    assert as_service.json()["active"] is True
    metadata = client.get("/.well-known/openid-configuration").json()
    assert "none" not in metadata["introspection_endpoint_auth_methods_supported"]
    assert "none" in metadata["revocation_endpoint_auth_methods_supported"]


def test_a_public_client_may_still_revoke(client: TestClient, world: World) -> None:
    """RFC 7009 §2.1: a public client revokes its own tokens with its client_id alone."""
    revoked = client.post("/revoke", data={"token": "unknown", "client_id": world.app_client_id})
    assert revoked.status_code == 200
