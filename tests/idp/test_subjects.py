"""``sub`` is opaque and never the ID number; pairwise per sector when the client asks
(OpenID Connect Core §8); a token meant for another audience is refused."""

from __future__ import annotations

import base64
import json
import secrets

from fastapi.testclient import TestClient

from core.services import Services
from idp.clients.channels import Channel
from idp.oauth import jws
from tests.idp.oidc_helpers import (
    CITIZEN_ID,
    REDIRECT,
    World,
    client_service,
    code_flow_tokens,
)


def register(services: Services, sector: str | None) -> tuple[str, str]:
    clients = client_service(services)
    registered, secret = clients.register(
        name=f"门户 {secrets.token_hex(2)}",
        channel=Channel.WEB,
        redirect_uris=[REDIRECT],
        scope="openid profile",
        subject_type="pairwise",
        sector_identifier=sector,
    )
    assert secret
    return registered.client_id, secret


def subject_seen_by(client: TestClient, client_id: str, secret: str) -> str:
    tokens = code_flow_tokens(
        client, client_id, secret, username=CITIZEN_ID, scope="openid profile"
    )
    part = tokens["id_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return str(claims["sub"])


def test_pairwise_subjects_differ_between_sectors(
    client: TestClient, world: World, services: Services
) -> None:
    housing = register(services, "https://housing.example.gov.cn")
    housing_again = register(services, "https://housing.example.gov.cn")
    tax = register(services, "https://tax.example.gov.cn")
    seen = [subject_seen_by(client, *pair) for pair in (housing, housing_again, tax)]
    assert seen[0] == seen[1]  # one sector, one identifier
    assert seen[0] != seen[2]  # sectors cannot correlate
    assert world.citizen_subject not in seen
    assert all(CITIZEN_ID not in value and "002X" not in value for value in seen)


def test_token_for_another_audience_is_refused(
    client: TestClient, world: World, services: Services
) -> None:
    now = int(services.idp.ctx.clock().timestamp())
    claims = {
        "iss": "https://govtrust.test",
        "aud": "https://other-service.example",
        "sub": world.citizen_subject,
        "client_id": world.web_client_id,
        "scope": "openid",
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(8),
    }
    token = jws.sign(claims, services.keys.signer("token"), typ="at+jwt")
    response = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    intro = client.post(
        "/introspect", data={"token": token}, auth=(world.web_client_id, world.web_secret)
    )
    assert intro.json() == {"active": False}
