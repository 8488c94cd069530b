"""DPoP (RFC 9449): tokens bound to the client's key; proofs checked and not replayable."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from joserfc import jws as joserfc_jws
from joserfc.jwk import ECKey

from core.app import create_app
from core.services import Services
from idp.oauth.dpop import access_token_hash, thumbprint
from tests.conftest import FrozenClock
from tests.idp.oidc_helpers import (
    REDIRECT,
    World,
    authorize_params,
    callback_params,
    login_and_consent,
    pkce_pair,
)

ISSUER = "https://govtrust.test"


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    yield TestClient(create_app(services=services), base_url=ISSUER)


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256")


def proof(
    key: ECKey,
    clock: FrozenClock,
    method: str,
    url: str,
    token: str | None = None,
    **changes: object,
) -> str:
    claims: dict[str, object] = {
        "jti": str(uuid.uuid4()),
        "htm": method,
        "htu": url,
        "iat": int(clock.now.timestamp()),
    }
    if token is not None:
        claims["ath"] = access_token_hash(token)
    claims.update(changes)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return joserfc_jws.serialize_compact(header, json.dumps(claims).encode(), key)


def bound_tokens(
    client: TestClient, world: World, key: ECKey, clock: FrozenClock, public: bool = False
) -> dict[str, object]:
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
        headers={"DPoP": proof(key, clock, "POST", f"{ISSUER}/token")},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_bound_token_needs_a_proof_by_its_key(
    client: TestClient, world: World, key: ECKey, clock: FrozenClock
) -> None:
    tokens = bound_tokens(client, world, key, clock)
    assert tokens["token_type"] == "DPoP"
    token = str(tokens["access_token"])
    url = f"{ISSUER}/userinfo"
    ok = client.get(
        "/userinfo",
        headers={"Authorization": f"DPoP {token}", "DPoP": proof(key, clock, "GET", url, token)},
    )
    assert ok.status_code == 200, ok.text
    as_bearer = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401
    other = ECKey.generate_key("P-256")
    stolen = client.get(
        "/userinfo",
        headers={"Authorization": f"DPoP {token}", "DPoP": proof(other, clock, "GET", url, token)},
    )
    assert stolen.status_code == 401
    replayed_proof = proof(key, clock, "GET", url, token)
    assert (
        client.get(
            "/userinfo", headers={"Authorization": f"DPoP {token}", "DPoP": replayed_proof}
        ).status_code
        == 200
    )
    assert (
        client.get(
            "/userinfo", headers={"Authorization": f"DPoP {token}", "DPoP": replayed_proof}
        ).status_code
        == 401
    )
    intro = client.post(
        "/introspect", data={"token": token}, auth=(world.web_client_id, world.web_secret)
    ).json()
    assert intro["cnf"] == {"jkt": thumbprint(key.as_dict(private=False))}


@pytest.mark.parametrize(
    "changes",
    [
        {"htm": "GET"},
        {"htu": "https://govtrust.test/other"},
        {"iat": 1},
        {"jti": ""},
    ],
)
def test_bad_proofs_are_refused_at_the_token_endpoint(
    client: TestClient, world: World, key: ECKey, clock: FrozenClock, changes: dict[str, object]
) -> None:
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(world.service_client_id, world.service_secret),
        headers={"DPoP": proof(key, clock, "POST", f"{ISSUER}/token", **changes)},
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_dpop_proof"


def test_proof_with_a_private_key_or_wrong_typ_is_refused(
    client: TestClient, world: World, key: ECKey, clock: FrozenClock
) -> None:
    claims = {
        "jti": "a",
        "htm": "POST",
        "htu": f"{ISSUER}/token",
        "iat": int(clock.now.timestamp()),
    }
    leaky = joserfc_jws.serialize_compact(
        {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=True)},
        json.dumps(claims).encode(),
        key,
    )
    wrong_typ = joserfc_jws.serialize_compact(
        {"typ": "JWT", "alg": "ES256", "jwk": key.as_dict(private=False)},
        json.dumps(claims).encode(),
        key,
    )
    for bad in (leaky, wrong_typ, "not.a.proof"):
        response = client.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=(world.service_client_id, world.service_secret),
            headers={"DPoP": bad},
        )
        assert response.json()["error"] == "invalid_dpop_proof"


def test_client_credentials_token_is_bound_too(
    client: TestClient, world: World, key: ECKey, clock: FrozenClock
) -> None:
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(world.service_client_id, world.service_secret),
        headers={"DPoP": proof(key, clock, "POST", f"{ISSUER}/token")},
    )
    assert response.json()["token_type"] == "DPoP"
