"""Authorization code + PKCE, end to end through the login pages (OpenID Connect Core §3.1,
RFC 7636, RFC 9207, RFC 9068), checked with joserfc as an independent JOSE library."""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

import httpx
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from core.db.engine import transaction
from core.services import Services
from idp.identities.storage import RepresentationRow
from idp.oauth.storage import GrantRow
from tests.idp.oidc_helpers import (
    CITIZEN_ID,
    CITIZEN_PHONE,
    PASSWORD,
    REDIRECT,
    World,
    authorize_params,
    callback_params,
    csrf_of,
    follow,
    login_and_consent,
    pkce_pair,
)


def exchange(client: TestClient, world: World, code: str, verifier: str) -> dict[str, object]:
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(world.web_client_id, world.web_secret),
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()  # type: ignore[no-any-return]


def post_form(client: TestClient, page: httpx.Response, **fields: str) -> httpx.Response:
    """Submit the page's form with ``fields`` and its CSRF token."""
    action = re.search(r'action="([^"]+)"', page.text)
    assert action, page.text
    return client.post(
        action.group(1), data={**fields, "csrf": csrf_of(page.text)}, follow_redirects=False
    )


def decode(client: TestClient, token: str) -> dict[str, object]:
    keys = KeySet.import_key_set(client.get("/pki/jwks.json").json())
    return dict(jwt.decode(token, keys, algorithms=["ES256"]).claims)


def test_discovery_names_every_endpoint(client: TestClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").json()
    assert metadata["issuer"] == "https://govtrust.test"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert "implicit" not in metadata["grant_types_supported"]
    assert "password" not in metadata["grant_types_supported"]
    assert client.get(metadata["jwks_uri"].removeprefix("https://govtrust.test")).status_code == 200


def test_code_flow_with_pkce(client: TestClient, world: World) -> None:
    verifier, challenge = pkce_pair()
    params = authorize_params(
        world.web_client_id, challenge, scope="openid profile phone offline_access"
    )
    back = callback_params(login_and_consent(client, params))
    assert back["state"] == "st-123"
    assert back["iss"] == "https://govtrust.test"
    tokens = exchange(client, world, back["code"], verifier)
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    id_token = decode(client, str(tokens["id_token"]))
    assert id_token["sub"] == world.citizen_subject
    assert id_token["aud"] == world.web_client_id and id_token["nonce"] == "n-456"
    assert id_token["name"] == "张三"
    assert id_token["id_number_masked"] == "110105********002X"
    assert id_token["acr"] == "urn:govtrust:loa:1" and id_token["amr"] == ["pwd"]
    assert "auth_time" in id_token and "at_hash" in id_token
    assert CITIZEN_ID not in str(id_token)
    access = decode(client, str(tokens["access_token"]))
    assert access["client_id"] == world.web_client_id and access["sub"] == world.citizen_subject
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200
    assert info.json()["phone_number"] == "+86" + CITIZEN_PHONE
    assert info.json()["sub"] == world.citizen_subject


def test_login_by_phone_number_and_session_is_reused(client: TestClient, world: World) -> None:
    verifier, challenge = pkce_pair()
    back = callback_params(
        login_and_consent(
            client, authorize_params(world.web_client_id, challenge), username=CITIZEN_PHONE
        )
    )
    exchange(client, world, back["code"], verifier)
    # a second authorization in the same browser: no password asked, consent remembered
    _, challenge2 = pkce_pair()
    again = client.get(
        "/authorize",
        params=authorize_params(world.web_client_id, challenge2),
        follow_redirects=False,
    )
    page = client.get(again.headers["location"], follow_redirects=False)
    assert 'name="password"' not in page.text
    assert 'name="acting_as"' in page.text  # the citizen represents a company: asked who
    final = login_and_consent(client, authorize_params(world.web_client_id, challenge2))
    assert callback_params(final)["code"]


def test_acting_for_a_company_puts_the_person_in_act(client: TestClient, world: World) -> None:
    verifier, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge, scope="openid organisation")
    back = callback_params(login_and_consent(client, params, acting_as=world.company_id))
    tokens = exchange(client, world, back["code"], verifier)
    id_token = decode(client, str(tokens["id_token"]))
    assert id_token["sub"] == f"org-{world.company_id}"
    assert id_token["act"] == {"sub": world.citizen_subject}
    assert id_token["org_uscc"] == "91350100M000100Y43"
    assert id_token["org_role"] == "legal_representative"


def test_the_consent_page_names_the_company_while_the_person_may_act_for_it(
    client: TestClient, world: World, services: Services
) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge, scope="openid organisation")
    page = follow(client, client.get(f"/authorize?{urlencode(params)}", follow_redirects=False))
    page = follow(client, post_form(client, page, username=CITIZEN_ID, password=PASSWORD))
    assert "福州示例科技有限公司" in page.text  # asked whom the person acts for
    chosen = follow(client, post_form(client, page, acting_as=world.company_id))
    assert 'name="consent"' in chosen.text and "省政务服务网" in chosen.text
    assert "福州示例科技有限公司" in chosen.text  # the consent is asked for the company

    # the same page once the representation has ended names no company
    with transaction(services.sessions) as session:
        session.execute(
            update(RepresentationRow)
            .where(RepresentationRow.person_id == world.citizen_id)
            .values(revoked_at=services.idp.ctx.clock())
        )
    again = client.get(urlsplit(str(chosen.url)).path, follow_redirects=False)
    assert 'name="consent"' in again.text and "福州示例科技有限公司" not in again.text


def test_no_code_for_a_company_the_person_no_longer_represents(
    client: TestClient, world: World, services: Services
) -> None:
    """The representation ends between the choice of the company and the consent: the
    login ends without a grant for the company."""
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge, scope="openid organisation")
    page = follow(client, client.get(f"/authorize?{urlencode(params)}", follow_redirects=False))
    page = follow(client, post_form(client, page, username=CITIZEN_ID, password=PASSWORD))
    consent = follow(client, post_form(client, page, acting_as=world.company_id))
    assert 'name="consent"' in consent.text
    with transaction(services.sessions) as session:
        session.execute(
            update(RepresentationRow)
            .where(RepresentationRow.person_id == world.citizen_id)
            .values(revoked_at=services.idp.ctx.clock())
        )
    answer = post_form(client, consent, consent="allow")
    assert answer.status_code == 400 and "location" not in answer.headers
    with services.sessions() as session:
        assert session.scalars(select(GrantRow)).all() == []


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient, world: World) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge)
    wrong = login_and_consent(client, params, password="not-the-password-1")
    unknown = login_and_consent(client, params, username="110105194912310039")
    assert wrong.status_code == unknown.status_code == 200
    assert "账号或密码不正确" in wrong.text and "账号或密码不正确" in unknown.text


def test_denied_consent_returns_access_denied_with_iss(client: TestClient, world: World) -> None:
    _, challenge = pkce_pair()
    back = callback_params(
        login_and_consent(client, authorize_params(world.web_client_id, challenge), consent="deny")
    )
    assert back["error"] == "access_denied"
    assert back["iss"] == "https://govtrust.test"
    assert back["state"] == "st-123"
