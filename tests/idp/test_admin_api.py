"""The admin API (/admin): clients, identities, login sessions; every action audited.

Negative cases next to the positive ones: no token (401), a token without the scope (403),
unknown ids (404), duplicates (409), bad input (422), and never an ID number or a phone
number in clear in a URL or an answer.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from sqlalchemy import select

from core.app import create_app
from core.audit.storage import AuditEntryRow
from core.services import Services
from idp.clients.channels import Channel
from idp.credentials.throttle import LoginThrottle
from tests.idp.oidc_helpers import (
    CITIZEN_ID,
    CITIZEN_PHONE,
    PASSWORD,
    REDIRECT,
    World,
    authorize_params,
    build_world,
    client_service,
    login_and_consent,
    person_tokens,
    pkce_pair,
)

ADMIN_SCOPE = "admin:clients admin:identities admin:sessions"
OTHER_ID = "440300199001011238"
OTHER_PHONE = "13900139000"
OTHER_USCC = "91110000100000000R"
THIRD_USCC = "91440300MA5D000002"
PERSONAL = (CITIZEN_ID, CITIZEN_PHONE, OTHER_ID, OTHER_PHONE)
PROBLEM = "application/problem+json"
FAILED = "账号或密码不正确"
BACKCHANNEL = "https://portal.example.gov.cn/backchannel"


def no_personal_data(response: httpx.Response) -> None:
    """No ID number or phone number in any URL, nor in clear in any API answer."""
    url = str(response.request.url)
    for value in PERSONAL:
        assert value not in url and value.lower() not in url
    if response.request.url.path.startswith(("/admin", "/me")):
        response.read()
        for value in PERSONAL:
            assert value not in response.text and value.lower() not in response.text


def browser(app: FastAPI) -> TestClient:
    """A client with its own cookies (one per person), checking every answer."""
    made = TestClient(app, base_url="https://govtrust.test")
    made.event_hooks = {"request": [], "response": [no_personal_data]}
    return made


@dataclass
class Admin:
    client_id: str
    secret: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def world(services: Services) -> World:
    # The login throttle without waiting, locking after 3 failures.
    services.idp.throttle = LoginThrottle(
        services.cache, clock=services.idp.ctx.clock, per_account_limit=3, base_delay=0, max_delay=0
    )
    return build_world(services)


@pytest.fixture
def app(services: Services) -> FastAPI:
    return create_app(services=services)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    yield browser(app)


def service_token(client: TestClient, client_id: str, secret: str, scope: str) -> httpx.Response:
    return client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client_id, secret),
    )


def make_admin(services: Services, client: TestClient, scope: str = ADMIN_SCOPE) -> Admin:
    registered, secret = client_service(services).register(
        name="政务管理后台", channel=Channel.SERVICE, scope=scope
    )
    assert secret
    response = service_token(client, registered.client_id, secret, scope)
    assert response.status_code == 200, response.text
    assert set(response.json()["scope"].split()) == set(scope.split())
    return Admin(registered.client_id, secret, response.json()["access_token"])


@pytest.fixture
def admin(services: Services, client: TestClient, world: World) -> Admin:
    return make_admin(services, client)


def audited(services: Services, action: str, actor: str | None = None) -> list[AuditEntryRow]:
    with services.sessions() as session:
        query = select(AuditEntryRow).where(AuditEntryRow.action == action)
        if actor is not None:
            query = query.where(AuditEntryRow.actor == actor)
        return list(session.scalars(query.order_by(AuditEntryRow.idx)))


def claims_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- bearer tokens (RFC 6750) ------------------------------------------------------------


def test_without_a_valid_token_the_answer_is_401_problem_with_a_challenge(
    client: TestClient, world: World, admin: Admin
) -> None:
    missing = client.get("/admin/clients")
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith(PROBLEM)
    assert missing.headers["www-authenticate"].startswith("Bearer ")
    assert "error=" not in missing.headers["www-authenticate"]  # RFC 6750 §3: no error code
    assert missing.json()["status"] == 401
    basic = client.get("/admin/clients", auth=(admin.client_id, admin.secret))
    assert basic.status_code == 401
    for token in ("garbage", admin.token[:-4] + "AAAA", admin.token + "x"):
        bad = client.get("/admin/clients", headers=bearer(token))
        assert bad.status_code == 401
        assert 'error="invalid_token"' in bad.headers["www-authenticate"]
        assert bad.headers["content-type"].startswith(PROBLEM)
    in_query = client.get(f"/admin/clients?{urlencode({'access_token': admin.token})}")
    assert in_query.status_code == 401  # never from the query string (RFC 6750 §2.3)
    assert client.get("/admin/clients", headers=admin.headers).status_code == 200


def test_a_token_without_the_scope_is_403_insufficient_scope(
    services: Services, client: TestClient, world: World
) -> None:
    clients_only = make_admin(services, client, scope="admin:clients")
    assert client.get("/admin/clients", headers=clients_only.headers).status_code == 200
    refused = client.post(
        "/admin/persons/search", json={"phone": CITIZEN_PHONE}, headers=clients_only.headers
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith(PROBLEM)
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="admin:identities"' in challenge
    assert client.get("/admin/persons/x/sessions", headers=clients_only.headers).status_code == 403
    # a person's token (openid) opens nothing here
    person = person_tokens(client, world)
    assert client.get("/admin/clients", headers=bearer(person["access_token"])).status_code == 403
    # nor does a token whose scope the client was never registered with
    sneaky = service_token(client, world.service_client_id, world.service_secret, "admin:clients")
    if sneaky.status_code == 200:
        token = sneaky.json()["access_token"]
        assert client.get("/admin/clients", headers=bearer(token)).status_code == 403
    else:
        assert sneaky.json()["error"] == "invalid_scope"


# -- clients -----------------------------------------------------------------------------


def test_register_list_and_get_clients(
    services: Services, client: TestClient, world: World, admin: Admin
) -> None:
    created = client.post(
        "/admin/clients",
        json={
            "name": "不动产登记网",
            "channel": "web",
            "redirect_uris": ["https://bdc.example.gov.cn/cb"],
            "scope": "openid profile",
            "subject_type": "pairwise",
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["client_secret"] and body["channel"] == "web"
    assert body["subject_type"] == "pairwise" and body["status"] == "active"
    assert created.headers["cache-control"] == "no-store"
    client_id = body["client_id"]
    listed = client.get("/admin/clients", params={"limit": 100}, headers=admin.headers).json()
    assert listed["total"] == 5 and len(listed["clients"]) == 5  # 3 of the world, admin, new
    assert client_id in {c["client_id"] for c in listed["clients"]}
    assert all("client_secret" not in c and "secret_hash" not in c for c in listed["clients"])
    page = client.get("/admin/clients", params={"limit": 2, "offset": 4}, headers=admin.headers)
    assert [c["client_id"] for c in page.json()["clients"]] == [
        c["client_id"] for c in listed["clients"][4:]
    ]
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
        assert client.get("/admin/clients", params=bad, headers=admin.headers).status_code == 422
    one = client.get(f"/admin/clients/{client_id}", headers=admin.headers)
    assert one.status_code == 200 and one.json()["redirect_uris"] == [
        "https://bdc.example.gov.cn/cb"
    ]
    assert "client_secret" not in one.json()
    key = ECKey.generate_key("P-256")
    signed = client.post(
        "/admin/clients",
        json={
            "name": "区块链存证平台",
            "channel": "service",
            "scope": "licence:read",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.as_dict(private=False)]},
        },
        headers=admin.headers,
    )
    assert signed.status_code == 201, signed.text
    assert signed.json()["client_secret"] is None
    no_secret = client.post(
        f"/admin/clients/{signed.json()['client_id']}/secret", headers=admin.headers
    )
    assert no_secret.status_code == 409
    private = client.post(
        "/admin/clients",
        json={
            "name": "x",
            "channel": "service",
            "scope": "licence:read",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.as_dict(private=True)]},
        },
        headers=admin.headers,
    )
    assert private.status_code == 422
    missing = client.get("/admin/clients/web-nope", headers=admin.headers)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)
    assert [e.object_id for e in audited(services, "client.registered", admin.client_id)] == [
        client_id,
        signed.json()["client_id"],
    ]
    assert audited(services, "client.listed", admin.client_id)
    assert audited(services, "client.viewed", admin.client_id)


@pytest.mark.parametrize(
    "body",
    [
        {
            "name": "x",
            "channel": "web",
            "redirect_uris": ["http://evil.example/cb"],
            "scope": "openid",
        },
        {"name": "x", "channel": "web", "redirect_uris": [], "scope": "openid"},
        {"name": "x", "channel": "fax", "scope": "openid"},
        {"name": "x", "channel": "service", "scope": "a\\b"},
        {
            "name": "x",
            "channel": "service",
            "scope": "openid",
            "token_endpoint_auth_method": "none",
        },
        {"name": "x", "channel": "service", "scope": "openid", "client_secret": "mine"},
        {"name": "", "channel": "service", "scope": "openid"},
    ],
)
def test_bad_client_metadata_is_422_problem(
    client: TestClient, world: World, admin: Admin, body: dict[str, object]
) -> None:
    response = client.post("/admin/clients", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


def test_rotating_a_secret_retires_the_old_one(
    services: Services, client: TestClient, world: World, admin: Admin
) -> None:
    body = {"name": "审批系统", "channel": "service", "scope": "licence:read"}
    created = client.post("/admin/clients", json=body, headers=admin.headers).json()
    client_id, old = created["client_id"], created["client_secret"]
    assert service_token(client, client_id, old, "").status_code == 200
    rotated = client.post(f"/admin/clients/{client_id}/secret", headers=admin.headers)
    assert rotated.status_code == 200
    new = rotated.json()["client_secret"]
    assert new != old and rotated.json()["client_id"] == client_id
    assert service_token(client, client_id, old, "").status_code == 401
    assert service_token(client, client_id, new, "").status_code == 200
    public = client.post(f"/admin/clients/{world.app_client_id}/secret", headers=admin.headers)
    assert public.status_code == 409
    assert client.post("/admin/clients/nope/secret", headers=admin.headers).status_code == 404
    assert [e.object_id for e in audited(services, "client.secret_rotated", admin.client_id)] == [
        client_id
    ]


def test_a_disabled_client_gets_no_tokens_until_enabled(
    services: Services, client: TestClient, world: World, admin: Admin
) -> None:
    body = {"name": "审批系统", "channel": "service", "scope": "licence:read"}
    created = client.post("/admin/clients", json=body, headers=admin.headers).json()
    client_id, secret = created["client_id"], created["client_secret"]
    assert service_token(client, client_id, secret, "").status_code == 200
    disabled = client.post(f"/admin/clients/{client_id}/disable", headers=admin.headers)
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    refused = service_token(client, client_id, secret, "")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    enabled = client.post(f"/admin/clients/{client_id}/enable", headers=admin.headers)
    assert enabled.json()["status"] == "active"
    assert service_token(client, client_id, secret, "").status_code == 200
    assert client.post("/admin/clients/nope/disable", headers=admin.headers).status_code == 404
    assert audited(services, "client.disabled", admin.client_id)
    assert audited(services, "client.active", admin.client_id)
    # the web client disabled: its code flow stops, and so do its tokens at this API
    person = person_tokens(client, world)
    client.post(f"/admin/clients/{world.web_client_id}/disable", headers=admin.headers)
    refreshed = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": person["refresh_token"]},
        auth=(world.web_client_id, world.web_secret),
    )
    assert refreshed.status_code == 401
    assert client.get("/me", headers=bearer(person["access_token"])).status_code == 401
    # an admin whose own client is disabled is locked out at once
    client.post(f"/admin/clients/{admin.client_id}/disable", headers=admin.headers)
    assert client.get("/admin/clients", headers=admin.headers).status_code == 401


# -- persons and organisations -----------------------------------------------------------


def test_register_find_and_view_persons(
    services: Services, client: TestClient, world: World, admin: Admin
) -> None:
    mismatch = client.post(
        "/admin/persons", json={"id_number": OTHER_ID, "name": "李四"}, headers=admin.headers
    )
    assert mismatch.status_code == 422  # not in the real-name registry yet
    assert mismatch.json()["type"] == "/problems/real-name-check-failed"
    services.idp.proofing.add(OTHER_ID, "李四")  # type: ignore[attr-defined]
    wrong_name = client.post(
        "/admin/persons", json={"id_number": OTHER_ID, "name": "李五"}, headers=admin.headers
    )
    assert wrong_name.status_code == 422
    created = client.post(
        "/admin/persons",
        json={"id_number": OTHER_ID, "name": "李四", "phone": OTHER_PHONE},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    person = created.json()
    assert person["id_number_masked"] == "440300********1238"
    assert person["phone_masked"] == "139****9000"
    assert len(person["subject"]) == 32 and person["subject"] != person["id"]
    assert "id_number" not in person and "phone" not in person
    again = client.post(
        "/admin/persons",
        json={"id_number": OTHER_ID.lower(), "name": "李四"},
        headers=admin.headers,
    )
    assert again.status_code == 409 and again.headers["content-type"].startswith(PROBLEM)
    bad = "440300199001011239"  # wrong check digit
    invalid = client.post(
        "/admin/persons", json={"id_number": bad, "name": "王五"}, headers=admin.headers
    )
    assert invalid.status_code == 422 and invalid.json()["type"] == "/problems/invalid-identifier"
    assert bad not in invalid.text
    for body in ({"name": "王五"}, {"id_number": OTHER_ID, "name": "王五", "extra": 1}):
        assert client.post("/admin/persons", json=body, headers=admin.headers).status_code == 422
    bad_phone = {"id_number": "310115198506152343", "name": "王五", "phone": "12345"}
    assert client.post("/admin/persons", json=bad_phone, headers=admin.headers).status_code == 422

    by_number = client.post(
        "/admin/persons/search", json={"id_number": OTHER_ID}, headers=admin.headers
    )
    assert by_number.status_code == 200
    assert [p["id"] for p in by_number.json()["persons"]] == [person["id"]]
    by_phone = client.post(
        "/admin/persons/search", json={"phone": f"+86 {CITIZEN_PHONE}"}, headers=admin.headers
    )
    assert [p["subject"] for p in by_phone.json()["persons"]] == [world.citizen_subject]
    nobody = client.post(
        "/admin/persons/search", json={"id_number": "310115198506152343"}, headers=admin.headers
    )
    assert nobody.status_code == 404 and nobody.headers["content-type"].startswith(PROBLEM)
    for body in ({}, {"id_number": OTHER_ID, "phone": OTHER_PHONE}):
        search = client.post("/admin/persons/search", json=body, headers=admin.headers)
        assert search.status_code == 422
    assert (
        client.post(
            "/admin/persons/search", json={"id_number": bad}, headers=admin.headers
        ).status_code
        == 422
    )

    viewed = client.get(f"/admin/persons/{person['id']}", headers=admin.headers)
    assert viewed.status_code == 200 and viewed.json() == person
    assert client.get("/admin/persons/" + "0" * 32, headers=admin.headers).status_code == 404

    assert [e.object_id for e in audited(services, "person.registered", admin.client_id)] == [
        person["id"]
    ]
    assert len(audited(services, "person.searched", admin.client_id)) == 3
    assert [e.object_id for e in audited(services, "person.viewed", admin.client_id)] == [
        person["id"]
    ]
    with services.sessions() as session:
        entries = session.scalars(select(AuditEntryRow.entry)).all()
    for entry in entries:
        for value in PERSONAL:
            assert value.encode() not in entry


def test_register_and_view_organisations(
    services: Services, client: TestClient, world: World, admin: Admin
) -> None:
    body = {
        "uscc": OTHER_USCC,
        "name": "北京示例有限公司",
        "legal_representative_person_id": world.citizen_id,
    }
    created = client.post("/admin/organisations", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    organisation = created.json()
    assert organisation["uscc"] == OTHER_USCC
    [representative] = organisation["representatives"]
    assert representative["role"] == "legal_representative"
    assert representative["subject"] == world.citizen_subject
    assert client.post("/admin/organisations", json=body, headers=admin.headers).status_code == 409
    unknown = {**body, "uscc": THIRD_USCC, "legal_representative_person_id": "0" * 32}
    assert (
        client.post("/admin/organisations", json=unknown, headers=admin.headers).status_code == 404
    )
    wrong = {**body, "uscc": "911100001000000000"}  # wrong check character
    invalid = client.post("/admin/organisations", json=wrong, headers=admin.headers)
    assert invalid.status_code == 422 and invalid.json()["identifier_kind"] == "uscc"
    viewed = client.get(f"/admin/organisations/{world.company_id}", headers=admin.headers)
    assert viewed.status_code == 200
    assert [r["person_id"] for r in viewed.json()["representatives"]] == [world.citizen_id]
    assert client.get("/admin/organisations/nope", headers=admin.headers).status_code == 404
    assert audited(services, "organisation.registered", admin.client_id)
    assert audited(services, "organisation.viewed", admin.client_id)


def attempt(client: TestClient, world: World, username: str, password: str) -> str:
    _, challenge = pkce_pair()
    response = login_and_consent(
        client,
        authorize_params(world.web_client_id, challenge),
        username=username,
        password=password,
    )
    return "code" if response.status_code == 303 else response.text


@pytest.mark.parametrize("username", [CITIZEN_ID, CITIZEN_PHONE])
def test_unlock_lifts_a_lockout(
    services: Services, app: FastAPI, world: World, admin: Admin, username: str
) -> None:
    person_browser = browser(app)
    admin_client = browser(app)
    for _ in range(3):
        assert FAILED in attempt(person_browser, world, username, "wrong-password-123")
    assert FAILED in attempt(person_browser, world, username, PASSWORD)  # locked
    unlocked = admin_client.post(f"/admin/persons/{world.citizen_id}/unlock", headers=admin.headers)
    assert unlocked.status_code == 204
    assert attempt(person_browser, world, username, PASSWORD) == "code"
    assert [e.object_id for e in audited(services, "person.unlocked", admin.client_id)] == [
        world.citizen_id
    ]
    missing = admin_client.post("/admin/persons/" + "0" * 32 + "/unlock", headers=admin.headers)
    assert missing.status_code == 404


# -- sessions ----------------------------------------------------------------------------


def test_ending_a_session_revokes_what_it_issued(
    services: Services, app: FastAPI, world: World, admin: Admin
) -> None:
    received: list[httpx.Request] = []
    services.idp.http = httpx.Client(
        transport=httpx.MockTransport(lambda r: received.append(r) or httpx.Response(200))
    )
    portal, secret = client_service(services).register(
        name="带退出的门户",
        channel=Channel.WEB,
        redirect_uris=[REDIRECT],
        backchannel_logout_uri=BACKCHANNEL,
        scope="openid profile offline_access",
    )
    assert secret
    world.web_client_id, world.web_secret = portal.client_id, secret
    person_browser, admin_client = browser(app), browser(app)
    tokens = person_tokens(person_browser, world)
    listed = admin_client.get(f"/admin/persons/{world.citizen_id}/sessions", headers=admin.headers)
    assert listed.status_code == 200
    [login] = listed.json()["sessions"]
    assert login["active"] is True and login["ended_at"] is None
    ended = admin_client.post(f"/admin/sessions/{login['public_id']}/end", headers=admin.headers)
    assert ended.status_code == 200
    assert ended.json()["active"] is False and ended.json()["ended_at"]
    refreshed = person_browser.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(world.web_client_id, world.web_secret),
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    introspected = person_browser.post(
        "/introspect",
        data={"token": tokens["access_token"]},
        auth=(world.web_client_id, world.web_secret),
    )
    assert introspected.json() == {"active": False}
    # the client that asked for it got a logout token for the session (Back-Channel Logout)
    [delivery] = received
    assert str(delivery.url) == BACKCHANNEL
    logout_token = parse_qs(delivery.content.decode())["logout_token"][0]
    assert claims_of(logout_token)["sid"] == login["public_id"]
    assert claims_of(logout_token)["sub"] == world.citizen_subject
    # the browser's session is over: the next authorization asks to log in again
    _, challenge = pkce_pair()
    page = person_browser.get(
        f"/authorize?{urlencode(authorize_params(world.web_client_id, challenge))}"
    )
    assert 'name="password"' in page.text
    [entry] = audited(services, "session.ended", admin.client_id)
    assert entry.object_id == login["public_id"]
    assert admin_client.post("/admin/sessions/nope/end", headers=admin.headers).status_code == 404
    unknown = admin_client.get("/admin/persons/" + "0" * 32 + "/sessions", headers=admin.headers)
    assert unknown.status_code == 404
    assert audited(services, "session.listed", admin.client_id)


def test_no_operation_takes_an_id_number_or_phone_in_the_url(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        if not path.startswith(("/admin", "/me")):
            continue
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                assert parameter["name"] not in {"id_number", "phone", "uscc"}, path
