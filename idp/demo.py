"""Demo identities and one client per channel, for ``govtrust serve --demo``.

Every start with ``--demo`` makes sure they exist and issues fresh passwords and client
secrets, so that ``var/demo.json`` always holds working credentials.
"""

from __future__ import annotations

import secrets
from typing import Any

from core.demo import seeder
from core.services import Services
from idp.accounts.service import set_password
from idp.clients.channels import Channel
from idp.clients.service import ClientService
from idp.clients.storage import SqlClientStore
from idp.identities.errors import IdentityExists
from idp.identities.proofing import LocalRegistryProofing
from idp.identities.service import IdentityService
from idp.identities.storage import SqlIdentityStore
from idp.oauth.server import ACCOUNT_SCOPE

CITIZEN = {"id_number": "11010519491231002X", "name": "张三", "phone": "13800138000"}
AGENT = {"id_number": "350102198001010011", "name": "李四", "phone": "13900139000"}
COMPANY = {"uscc": "91350100M000100Y43", "name": "福州示例科技有限公司"}
PORTAL_REDIRECT = "http://localhost:3000/callback"

# The portal, the app and the mini-program are the service's own channels: they alone are
# registered with the person's own account APIs (ACCOUNT_SCOPE, /me). Kiosks, counters and
# the hotline act for a person at a shared device or through staff, and do not get it.
DEMO_CLIENTS: list[dict[str, Any]] = [
    {
        "client_id": "demo-web",
        "name": "省政务服务网（演示）",
        "channel": Channel.WEB,
        "redirect_uris": [PORTAL_REDIRECT],
        "scope": f"openid profile phone id_number organisation offline_access {ACCOUNT_SCOPE}",
    },
    {
        "client_id": "demo-app",
        "name": "政务服务App（演示）",
        "channel": Channel.APP,
        "redirect_uris": ["cn.gov.demo.app:/callback", "http://127.0.0.1:8765/callback"],
        "scope": f"openid profile phone organisation offline_access {ACCOUNT_SCOPE}",
    },
    {
        "client_id": "demo-mini-program",
        "name": "政务小程序（演示）",
        "channel": Channel.MINI_PROGRAM,
        "redirect_uris": ["cn.gov.demo.mini:/callback"],
        "scope": f"openid profile {ACCOUNT_SCOPE}",
    },
    {
        "client_id": "demo-kiosk",
        "name": "自助终端（演示）",
        "channel": Channel.KIOSK,
        "scope": "openid profile",
    },
    {
        "client_id": "demo-counter",
        "name": "政务大厅窗口（演示）",
        "channel": Channel.COUNTER,
        "scope": "openid profile",
    },
    {
        "client_id": "demo-hotline",
        "name": "12345热线（演示）",
        "channel": Channel.HOTLINE,
        "scope": "openid profile",
    },
    {
        "client_id": "demo-service",
        "name": "部门业务系统（演示）",
        "channel": Channel.SERVICE,
        "scope": "licence:read",
    },
]


def _password() -> str:
    return f"Demo-{secrets.token_urlsafe(12)}"


@seeder("idp")
def seed_identities_and_clients(services: Services) -> dict[str, Any]:
    provider = services.idp
    clock = provider.ctx.clock
    identities = IdentityService(services.sessions, services.identifiers, services.audit, clock)
    store = SqlIdentityStore()
    proofing = LocalRegistryProofing(services.sessions, services.identifiers)
    people: dict[str, Any] = {}
    for label, data in (("citizen", CITIZEN), ("agent", AGENT)):
        proofing.add(data["id_number"], data["name"])
        try:
            person = identities.register_person(
                data["id_number"], data["name"], data["phone"], actor="demo"
            )
        except IdentityExists:
            with services.sessions() as session:
                found = store.person_by_id_number(session, services.identifiers, data["id_number"])
            assert found is not None
            person = found
        password = _password()
        set_password(provider, person.id, password, actor="demo")
        people[label] = {**data, "password": password, "subject": person.subject}
    with services.sessions() as session:
        company = store.organisation_by_uscc(session, COMPANY["uscc"])
        citizen = store.person_by_id_number(session, services.identifiers, CITIZEN["id_number"])
    assert citizen is not None
    if company is None:
        company = identities.register_organisation(
            COMPANY["uscc"], COMPANY["name"], citizen.id, actor="demo"
        )
    clients_out: dict[str, Any] = {}
    service = ClientService(services.sessions, services.audit, provider.ctx.hash_key, clock)
    existing = SqlClientStore()
    for spec in DEMO_CLIENTS:
        with services.sessions() as session:
            known = existing.get(session, spec["client_id"])
        if known is None:
            client, secret = service.register(actor="demo", **spec)
        else:
            client = known
            secret = (
                None if known.is_public else service.rotate_secret(known.client_id, actor="demo")
            )
        clients_out[client.channel.value] = {
            "client_id": client.client_id,
            "client_secret": secret,
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
            "redirect_uris": list(client.redirect_uris),
            "scope": client.scope,
            "grant_types": list(client.grant_types),
        }
    return {
        "users": people,
        "organisation": {**COMPANY, "legal_representative": "citizen"},
        "clients": clients_out,
        "login": "username is the ID number or the mobile number; see users.*.password",
    }
