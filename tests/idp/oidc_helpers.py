"""Helpers for provider tests: a citizen, a company, clients, and a browser-like login."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from fastapi.testclient import TestClient

from core.services import Services
from idp.accounts.service import set_password
from idp.clients.channels import Channel
from idp.clients.service import ClientService
from idp.identities.service import IdentityService
from idp.oauth.server import ACCOUNT_SCOPE

CITIZEN_ID = "11010519491231002X"
CITIZEN_PHONE = "13800138000"
PASSWORD = "Correct-Horse-42-Battery"
COMPANY_USCC = "91350100M000100Y43"
REDIRECT = "https://portal.example.gov.cn/callback"
ACCOUNT_TOKEN_SCOPE = f"openid profile offline_access {ACCOUNT_SCOPE}"
"""What the portal asks for to call the person's own account APIs (/me)."""


@dataclass
class World:
    citizen_id: str
    citizen_subject: str
    company_id: str
    web_client_id: str
    web_secret: str
    app_client_id: str
    service_client_id: str
    service_secret: str


def client_service(services: Services) -> ClientService:
    """Registers and changes clients as the admin API does, on the test's services."""
    ctx = services.idp.ctx
    return ClientService(ctx.sessions, ctx.audit, ctx.hash_key, ctx.clock)


def build_world(services: Services) -> World:
    identities = IdentityService(
        services.sessions, services.identifiers, services.audit, services.idp.ctx.clock
    )
    citizen = identities.register_person(CITIZEN_ID, "张三", CITIZEN_PHONE, actor="test")
    set_password(services.idp, citizen.id, PASSWORD)
    company = identities.register_organisation(
        COMPANY_USCC, "福州示例科技有限公司", citizen.id, actor="test"
    )
    clients = client_service(services)
    web, web_secret = clients.register(
        name="省政务服务网",
        channel=Channel.WEB,
        redirect_uris=[REDIRECT],
        scope=f"openid profile phone id_number organisation offline_access {ACCOUNT_SCOPE}",
    )
    app, _ = clients.register(
        name="政务App",
        channel=Channel.APP,
        redirect_uris=["cn.gov.example.app:/callback"],
        scope=f"openid profile {ACCOUNT_SCOPE}",
    )
    service, service_secret = clients.register(
        name="部门系统", channel=Channel.SERVICE, scope="licence:read"
    )
    assert web_secret and service_secret
    return World(
        citizen.id,
        citizen.subject,
        company.id,
        web.client_id,
        web_secret,
        app.client_id,
        service.client_id,
        service_secret,
    )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorize_params(client_id: str, challenge: str, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "st-123",
        "nonce": "n-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return params


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def follow(client: TestClient, response: httpx.Response) -> httpx.Response:
    assert response.status_code == 303, (response.status_code, response.text[:500])
    return client.get(response.headers["location"], follow_redirects=False)


def login_and_consent(
    client: TestClient,
    params: dict[str, str],
    *,
    username: str = CITIZEN_ID,
    password: str = PASSWORD,
    acting_as: str = "self",
    consent: str = "allow",
) -> httpx.Response:
    """Drive the pages as a browser does; return the final redirect to the client."""
    page = follow(client, client.get(f"/authorize?{urlencode(params)}", follow_redirects=False))
    if 'name="password"' in page.text:
        action = re.search(r'action="([^"]+)"', page.text)
        assert action
        posted = client.post(
            action.group(1),
            data={"username": username, "password": password, "csrf": csrf_of(page.text)},
            follow_redirects=False,
        )
        if posted.status_code != 303:
            return posted
        page = follow(client, posted)
    if 'name="acting_as"' in page.text:
        action = re.search(r'action="([^"]+)"', page.text)
        assert action
        page = follow(
            client,
            client.post(
                action.group(1),
                data={"acting_as": acting_as, "csrf": csrf_of(page.text)},
                follow_redirects=False,
            ),
        )
    if 'name="consent"' in page.text:
        action = re.search(r'action="([^"]+)"', page.text)
        assert action
        return client.post(
            action.group(1),
            data={"consent": consent, "csrf": csrf_of(page.text)},
            follow_redirects=False,
        )
    return page


def callback_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def code_flow_tokens(
    client: TestClient,
    client_id: str,
    secret: str,
    *,
    username: str,
    scope: str,
    acting_as: str = "self",
) -> dict[str, Any]:
    """The token response of one code flow with PKCE, the person logging in and consenting
    in the browser ``client``, the code redeemed by the confidential client."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client_id, challenge, scope=scope)
    back = callback_params(
        login_and_consent(client, params, username=username, acting_as=acting_as)
    )
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def person_tokens(
    client: TestClient,
    world: World,
    username: str = CITIZEN_ID,
    acting_as: str = "self",
    scope: str = ACCOUNT_TOKEN_SCOPE,
) -> dict[str, Any]:
    """A person's tokens from the code flow at the world's portal, in that person's browser
    (``client``): by default with a refresh token and the person's own ``account`` scope."""
    return code_flow_tokens(
        client,
        world.web_client_id,
        world.web_secret,
        username=username,
        scope=scope,
        acting_as=acting_as,
    )
