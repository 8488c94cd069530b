"""Demo licences for ``govtrust serve --demo``: the three demo licence types, an issuing
authority (福州市市场监督管理局) whose legal representative is a demo civil servant (a
licence administrator), a business licence (营业执照) held by the demo company and a tour
guide card (导游证) held by the demo citizen.

Runs after :mod:`idp.demo` (imported here, so its seeder is registered first) and is
idempotent: types and licences are made once, while the administrator's password and the
admin client's secret are fresh on every start, like the other demo credentials.
"""

from __future__ import annotations

import secrets
from contextlib import suppress
from datetime import date
from typing import Any

from certs.access import LICENCE_ADMIN_SCOPE
from certs.demo_types import BUSINESS_LICENCE, TOUR_GUIDE_CARD, demo_licence_types
from certs.errors import LicenceTypeExists
from certs.lifecycle import china_date
from certs.service import LicenceService
from core.demo import seeder
from core.identifiers.uscc import check_character
from core.services import Services
from idp.accounts.service import set_password
from idp.clients.channels import Channel
from idp.clients.service import ClientService
from idp.clients.storage import SqlClientStore
from idp.demo import CITIZEN, COMPANY, PORTAL_REDIRECT
from idp.identities.errors import IdentityExists
from idp.identities.models import Person
from idp.identities.proofing import LocalRegistryProofing
from idp.identities.service import IdentityService
from idp.identities.storage import SqlIdentityStore
from seal.registry import SealRegistry

ACTOR = "demo"
_AUTHORITY_CODE = "11350100MB0000001"  # 机关 (11), Fuzhou (350100), illustrative org code
AUTHORITY = {
    "uscc": _AUTHORITY_CODE + check_character(_AUTHORITY_CODE),
    "name": "福州市市场监督管理局",
}
CIVIL_SERVANT = {"id_number": "350102198503150022", "name": "王芳", "phone": "13700137000"}
ADMIN_CLIENT: dict[str, Any] = {
    "client_id": "demo-licence-admin",
    "name": "电子证照制证系统（演示）",
    "channel": Channel.WEB,
    "redirect_uris": [PORTAL_REDIRECT],
    "scope": f"openid profile {LICENCE_ADMIN_SCOPE}",
}
BUSINESS_FIELDS: dict[str, Any] = {
    "name": COMPANY["name"],
    "type": "有限责任公司（自然人投资或控股）",
    "legal_representative": CITIZEN["name"],
    "registered_capital": "壹佰万元整",
    "established": "2020-06-18",
    "address": "福建省福州市鼓楼区五四路1号",
    "business_scope": "软件开发；信息技术咨询服务；数据处理服务",
}
GUIDE_FIELDS: dict[str, Any] = {
    "name": CITIZEN["name"],
    "sex": "女",  # 17th digit of 11010519491231002X is even
    "language": "普通话",
    "level": "中级",
    "issuing_authority": AUTHORITY["name"],
    "affiliation": COMPANY["name"],
}


def _civil_servant(services: Services, identities: IdentityService) -> Person:
    LocalRegistryProofing(services.sessions, services.identifiers).add(
        CIVIL_SERVANT["id_number"], CIVIL_SERVANT["name"]
    )
    try:
        return identities.register_person(
            CIVIL_SERVANT["id_number"], CIVIL_SERVANT["name"], CIVIL_SERVANT["phone"], actor=ACTOR
        )
    except IdentityExists:
        with services.sessions() as session:
            found = SqlIdentityStore().person_by_id_number(
                session, services.identifiers, CIVIL_SERVANT["id_number"]
            )
        assert found is not None
        return found


def _authority_seal(services: Services, authority_id: str, admin_id: str) -> str:
    """The issuing authority's official seal (公章), which seals its electronic licences;
    made now if it has none."""
    registry = SealRegistry(services.sessions, services.keys, services.audit, services.keys.clock)
    for seal in registry.seals_of(authority_id):
        if seal.kind == "official" and seal.status == "active":
            return seal.id
    return registry.create(organisation_id=authority_id, kind="official", by=admin_id).id


def _admin_client(services: Services) -> dict[str, Any]:
    ctx = services.idp.ctx
    clients = ClientService(services.sessions, services.audit, ctx.hash_key, ctx.clock)
    with services.sessions() as session:
        known = SqlClientStore().get(session, str(ADMIN_CLIENT["client_id"]))
    if known is None:
        client, secret = clients.register(actor=ACTOR, **ADMIN_CLIENT)
    else:
        client, secret = known, clients.rotate_secret(known.client_id, actor=ACTOR)
    return {
        "client_id": client.client_id,
        "client_secret": secret,
        "redirect_uris": list(client.redirect_uris),
        "scope": client.scope,
    }


def _licence(
    licences: LicenceService,
    type_code: str,
    holder_name: str,
    holder_code: str,
    fields: dict[str, Any],
    valid_from: date,
) -> str:
    """The current identifier of the authority's licence of this type for this holder,
    issued now if there is none."""
    for held in licences.search_by_holder(holder_code):
        if held.type_code == type_code and held.issuer_uscc == AUTHORITY["uscc"]:
            return held.identifier
    issued = licences.issue(
        type_code,
        AUTHORITY["uscc"],
        AUTHORITY["name"],
        holder_name,
        holder_code,
        fields,
        valid_from,
        ACTOR,
        reason="demo",
    )
    return issued.identifier


@seeder("certs")
def seed_licences(services: Services) -> dict[str, Any]:
    clock = services.keys.clock
    identities = IdentityService(services.sessions, services.identifiers, services.audit, clock)
    admin = _civil_servant(services, identities)
    with services.sessions() as session:
        authority = SqlIdentityStore().organisation_by_uscc(session, AUTHORITY["uscc"])
    if authority is None:
        authority = identities.register_organisation(
            AUTHORITY["uscc"], AUTHORITY["name"], admin.id, actor=ACTOR
        )
    password = f"Demo-{secrets.token_urlsafe(12)}"
    set_password(services.idp, admin.id, password, actor=ACTOR)
    licences = LicenceService(services.sessions, services.identifiers, services.audit, clock)
    seal_id = _authority_seal(services, authority.id, admin.id)
    for licence_type in demo_licence_types(seal_id=seal_id):
        with suppress(LicenceTypeExists):
            licences.register_type(licence_type, ACTOR)
    today = china_date(clock())
    business = _licence(
        licences, BUSINESS_LICENCE, COMPANY["name"], COMPANY["uscc"], BUSINESS_FIELDS, today
    )
    guide = _licence(
        licences, TOUR_GUIDE_CARD, CITIZEN["name"], CITIZEN["id_number"], GUIDE_FIELDS, today
    )
    return {
        "issuing_authority": {**AUTHORITY, "legal_representative": "admin"},
        "admin": {**CIVIL_SERVANT, "password": password, "subject": admin.subject},
        "admin_client": _admin_client(services),
        "licence_types_sealed_by": licences.get_type(BUSINESS_LICENCE).seal_id,
        "licences": {
            "business_licence": {"identifier": business, "holder": "idp.organisation"},
            "tour_guide_card": {"identifier": guide, "holder": "idp.users.citizen"},
        },
        "print_status": "/licence-prints/{print_serial}/status",
    }
