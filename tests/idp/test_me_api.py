"""The self-service API (/me): a person's profile, consents, sessions and agents.

A person only ever sees and changes their own objects: another person's consent, session
or representation answers 404, exactly like one that does not exist (no IDOR).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.app import create_app
from core.audit.storage import AuditEntryRow
from core.services import Services
from idp.accounts.service import set_password
from idp.clients.channels import Channel
from idp.identities.service import IdentityService
from idp.oauth.server import ACCOUNT_SCOPE
from tests.idp.oidc_helpers import (
    CITIZEN_ID,
    CITIZEN_PHONE,
    PASSWORD,
    REDIRECT,
    World,
    authorize_params,
    build_world,
    client_service,
    csrf_of,
    follow,
    person_tokens,
    pkce_pair,
)

AGENT_ID = "440300199001011238"
STRANGER_ID = "310115198506152343"
PERSONAL = (CITIZEN_ID, CITIZEN_PHONE, AGENT_ID, STRANGER_ID)
PROBLEM = "application/problem+json"
NO_SUCH = "/problems/not-found"


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
    made = TestClient(app, base_url="https://govtrust.test")
    made.event_hooks = {"request": [], "response": [no_personal_data]}
    return made


@dataclass
class People:
    world: World
    agent_id: str
    agent_subject: str
    stranger_id: str
    stranger_subject: str


@pytest.fixture
def people(services: Services) -> People:
    world = build_world(services)
    ctx = services.idp.ctx
    identities = IdentityService(ctx.sessions, services.identifiers, ctx.audit, ctx.clock)
    agent = identities.register_person(AGENT_ID, "李四", actor="test")
    stranger = identities.register_person(STRANGER_ID, "王五", actor="test")
    for person in (agent, stranger):
        set_password(services.idp, person.id, PASSWORD)
    return People(world, agent.id, agent.subject, stranger.id, stranger.subject)


@pytest.fixture
def app(services: Services) -> FastAPI:
    return create_app(services=services)


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def introspect(client: TestClient, world: World, token: str) -> dict[str, Any]:
    response = client.post(
        "/introspect", data={"token": token}, auth=(world.web_client_id, world.web_secret)
    )
    body: dict[str, Any] = response.json()
    return body


def audited(services: Services, action: str) -> list[AuditEntryRow]:
    with services.sessions() as session:
        query = select(AuditEntryRow).where(AuditEntryRow.action == action)
        return list(session.scalars(query.order_by(AuditEntryRow.idx)))


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["type"] == NO_SUCH


# -- who may call ----------------------------------------------------------------------


def test_a_persons_token_with_account_is_needed(
    services: Services, app: FastAPI, people: People
) -> None:
    client = browser(app)
    missing = client.get("/me")
    assert missing.status_code == 401 and missing.headers["content-type"].startswith(PROBLEM)
    assert missing.headers["www-authenticate"].startswith("Bearer ")
    garbage = client.get("/me", headers={"Authorization": "Bearer nope"})
    assert garbage.status_code == 401
    assert 'error="invalid_token"' in garbage.headers["www-authenticate"]
    # a back-end client's own token, even with openid and account, is not a person's
    clients = client_service(services)
    service, secret = clients.register(
        name="后台", channel=Channel.SERVICE, scope=f"openid {ACCOUNT_SCOPE}"
    )
    assert secret
    issued = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": f"openid {ACCOUNT_SCOPE}"},
        auth=(service.client_id, secret),
    )
    refused = client.get("/me", headers=bearer(issued.json()))
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    # a person's token with openid but without account (RFC 6750 §3.1)
    no_account = person_tokens(client, people.world, scope="openid profile")
    forbidden = client.get("/me", headers=bearer(no_account))
    assert forbidden.status_code == 403 and forbidden.headers["content-type"].startswith(PROBLEM)
    challenge = forbidden.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and f'scope="{ACCOUNT_SCOPE}"' in challenge


def own_operations(client: TestClient) -> list[tuple[str, str]]:
    """Every documented operation under /me (the provider's, and the licence wallet's),
    path parameters filled in."""
    document = client.get("/openapi.json").json()
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, operations in document["paths"].items()
        if path == "/me" or path.startswith("/me/")
        for method in operations
    ]


def test_every_own_operation_refuses_a_third_partys_openid_token(
    services: Services, app: FastAPI, people: People
) -> None:
    client = browser(app)
    operations = own_operations(client)
    paths = {path for _, path in operations}
    assert {"/me", "/me/consents", "/me/sessions", "/me/licences", "/me/licence-accesses"} <= paths
    clients = client_service(services)
    bank, secret = clients.register(
        name="示例银行", channel=Channel.WEB, redirect_uris=[REDIRECT], scope="openid profile"
    )
    assert secret
    at_the_bank = replace(people.world, web_client_id=bank.client_id, web_secret=secret)
    # asking for account does not help: the bank is not registered with it
    theirs = person_tokens(client, at_the_bank, scope=f"openid profile {ACCOUNT_SCOPE}")
    assert set(theirs["scope"].split()) == {"openid", "profile"}
    for method, path in operations:
        refused = client.request(method, path, headers=bearer(theirs))
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.headers["content-type"].startswith(PROBLEM)
        assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    # the same person's token from the portal (registered with account) is let in
    mine = person_tokens(client, people.world)
    assert ACCOUNT_SCOPE in mine["scope"].split()
    for path in ("/me", "/me/consents", "/me/sessions", "/me/licences", "/me/licence-accesses"):
        assert client.get(path, headers=bearer(mine)).status_code == 200, path
    their_consents = client.get("/me/consents", headers=bearer(mine)).json()["consents"]
    assert bank.client_id in {c["client_id"] for c in their_consents}  # untouched by the bank


# -- profile ---------------------------------------------------------------------------


def test_profile_shows_the_masked_number_and_the_subject(app: FastAPI, people: People) -> None:
    client = browser(app)
    me = client.get("/me", headers=bearer(person_tokens(client, people.world)))
    assert me.status_code == 200
    assert me.headers["cache-control"] == "no-store"
    assert me.json() == {
        "subject": people.world.citizen_subject,
        "name": "张三",
        "id_number_masked": "110105********002X",
        "phone_masked": "138****8000",
        "acting_for": None,
    }
    acting = person_tokens(client, people.world, acting_as=people.world.company_id)
    as_company = client.get("/me", headers=bearer(acting)).json()
    assert as_company["subject"] == people.world.citizen_subject  # act.sub: the person
    assert as_company["acting_for"] == f"org-{people.world.company_id}"


# -- consents --------------------------------------------------------------------------


def test_withdrawing_a_consent_revokes_the_clients_tokens_at_once(
    services: Services, app: FastAPI, people: People
) -> None:
    world = people.world
    citizen, agent = browser(app), browser(app)
    mine = person_tokens(citizen, world)
    for_company = person_tokens(citizen, world, acting_as=world.company_id)
    theirs = person_tokens(agent, world, username=AGENT_ID)
    listed = citizen.get("/me/consents", headers=bearer(mine)).json()["consents"]
    assert {(c["client_id"], c["organisation_id"]) for c in listed} == {
        (world.web_client_id, None),
        (world.web_client_id, world.company_id),
    }
    own = next(c for c in listed if c["organisation_id"] is None)
    assert own["client_name"] == "省政务服务网" and "openid" in own["scope"].split()
    their_consents = agent.get("/me/consents", headers=bearer(theirs)).json()["consents"]
    assert [c["id"] for c in their_consents] != [own["id"]] and len(their_consents) == 1

    # another person's consent is not found, and stays in force
    assert_not_found(agent.post(f"/me/consents/{own['id']}/withdraw", headers=bearer(theirs)))
    assert_not_found(agent.post("/me/consents/nope/withdraw", headers=bearer(theirs)))
    assert introspect(citizen, world, mine["access_token"])["active"] is True

    withdrawn = citizen.post(f"/me/consents/{own['id']}/withdraw", headers=bearer(for_company))
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"]
    assert introspect(citizen, world, mine["access_token"]) == {"active": False}
    assert introspect(citizen, world, mine["refresh_token"]) == {"active": False}
    assert citizen.get("/me", headers=bearer(mine)).status_code == 401
    # the consent given for the company, and its tokens, are untouched
    assert introspect(citizen, world, for_company["access_token"])["active"] is True
    left = citizen.get("/me/consents", headers=bearer(for_company)).json()["consents"]
    assert [c["organisation_id"] for c in left] == [world.company_id]
    # the next authorization for the person asks for consent again
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge)
    choose = follow(citizen, citizen.get(f"/authorize?{urlencode(params)}", follow_redirects=False))
    action = re.search(r'action="([^"]+)"', choose.text)
    assert action and 'name="acting_as"' in choose.text
    chosen = citizen.post(
        action.group(1),
        data={"acting_as": "self", "csrf": csrf_of(choose.text)},
        follow_redirects=False,
    )
    assert 'name="consent"' in follow(citizen, chosen).text
    [entry] = audited(services, "consent.withdrawn")
    assert entry.object_id == own["id"] and entry.actor == world.citizen_subject


# -- sessions --------------------------------------------------------------------------


def test_a_person_ends_their_own_sessions_only(
    services: Services, app: FastAPI, people: People
) -> None:
    world = people.world
    citizen, agent = browser(app), browser(app)
    mine = person_tokens(citizen, world)
    theirs = person_tokens(agent, world, username=AGENT_ID)
    [session] = citizen.get("/me/sessions", headers=bearer(mine)).json()["sessions"]
    assert session["active"] is True
    [other] = agent.get("/me/sessions", headers=bearer(theirs)).json()["sessions"]
    assert other["public_id"] != session["public_id"]

    assert_not_found(agent.post(f"/me/sessions/{session['public_id']}/end", headers=bearer(theirs)))
    assert introspect(citizen, world, mine["refresh_token"])["active"] is True

    ended = citizen.post(f"/me/sessions/{session['public_id']}/end", headers=bearer(mine))
    assert ended.status_code == 200 and ended.json()["active"] is False
    refreshed = citizen.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": mine["refresh_token"]},
        auth=(world.web_client_id, world.web_secret),
    )
    assert refreshed.json()["error"] == "invalid_grant"
    assert citizen.get("/me", headers=bearer(mine)).status_code == 401
    assert agent.get("/me", headers=bearer(theirs)).status_code == 200
    [entry] = audited(services, "session.ended")
    assert entry.object_id == session["public_id"] and entry.actor == world.citizen_subject


# -- organisations and agents ----------------------------------------------------------


def test_a_legal_representative_grants_and_withdraws_an_agent(
    services: Services, app: FastAPI, people: People, clock: Any
) -> None:
    world = people.world
    citizen, agent, stranger = browser(app), browser(app), browser(app)
    rep = person_tokens(citizen, world)
    [option] = citizen.get("/me/organisations", headers=bearer(rep)).json()["organisations"]
    assert option["organisation_id"] == world.company_id
    assert option["role"] == "legal_representative" and option["agents"] == []
    agents_url = f"/me/organisations/{world.company_id}/agents"
    until = (clock() + timedelta(days=30)).isoformat()
    body = {"subject": people.agent_subject, "scopes": ["licence:read"], "valid_until": until}

    strangers = person_tokens(stranger, world, username=STRANGER_ID)
    assert strangers["access_token"]
    assert_not_found(stranger.post(agents_url, json=body, headers=bearer(strangers)))
    assert stranger.get("/me/organisations", headers=bearer(strangers)).json() == {
        "organisations": []
    }

    for bad in (
        {**body, "valid_until": (clock() - timedelta(days=1)).isoformat()},
        {**body, "valid_until": "2030-01-01T00:00:00"},  # no time zone
        {**body, "scopes": ["*"]},
        {**body, "scopes": []},
    ):
        assert citizen.post(agents_url, json=bad, headers=bearer(rep)).status_code == 422
    unknown = citizen.post(agents_url, json={**body, "subject": "0" * 32}, headers=bearer(rep))
    assert_not_found(unknown)
    granted = citizen.post(agents_url, json=body, headers=bearer(rep))
    assert granted.status_code == 201, granted.text
    representation = granted.json()
    assert representation["subject"] == people.agent_subject
    assert representation["scopes"] == ["licence:read"]
    [option] = citizen.get("/me/organisations", headers=bearer(rep)).json()["organisations"]
    assert [a["representation_id"] for a in option["agents"]] == [
        representation["representation_id"]
    ]

    # the agent may act for the company now, but not pass the authority on nor withdraw it
    acting = person_tokens(agent, world, username=AGENT_ID, acting_as=world.company_id)
    theirs = agent.get("/me/organisations", headers=bearer(acting)).json()["organisations"]
    assert [(o["organisation_id"], o["role"]) for o in theirs] == [(world.company_id, "agent")]
    onward = agent.post(
        agents_url, json={**body, "subject": people.stranger_subject}, headers=bearer(acting)
    )
    assert onward.status_code == 403 and onward.headers["content-type"].startswith(PROBLEM)
    withdraw_url = f"/me/agents/{representation['representation_id']}/withdraw"
    assert_not_found(agent.post(withdraw_url, headers=bearer(acting)))
    assert_not_found(stranger.post(withdraw_url, headers=bearer(strangers)))
    assert_not_found(citizen.post("/me/agents/nope/withdraw", headers=bearer(rep)))
    own_url = f"/me/agents/{option['representation_id']}/withdraw"
    assert citizen.post(own_url, headers=bearer(rep)).status_code == 403  # not an agent

    withdrawn = citizen.post(withdraw_url, headers=bearer(rep))
    assert withdrawn.status_code == 200 and withdrawn.json()["revoked_at"]
    assert introspect(agent, world, acting["access_token"]) == {"active": False}
    assert agent.get("/me", headers=bearer(acting)).status_code == 401
    again = person_tokens(agent, world, username=AGENT_ID)
    assert agent.get("/me/organisations", headers=bearer(again)).json() == {"organisations": []}
    [granted_entry] = audited(services, "agent.granted")
    [revoked_entry] = audited(services, "agent.revoked")
    assert granted_entry.object_id == revoked_entry.object_id == representation["representation_id"]
