"""The console in ``govtrust serve --demo``: its client registered, its address in demo.json,
and an approver: 陈静, a civil servant of the demo issuing authority (福州市市场监督管理局),
granted the use of its approval seal (审批专用章) by the authority's legal representative
(``certs.admin``, who is also its seal administrator).

Runs after :mod:`certs.demo` (the authority and its administrator exist by then) and is
idempotent; the approver's password is fresh on every start, like the other demo
credentials. The platform administrator role comes from ``GOVTRUST_PLATFORM_ADMINS``
(:mod:`console.platform`), a setting the demo cannot give itself: demo.json says how.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from certs.demo import AUTHORITY, CIVIL_SERVANT
from console.client import CLIENT_ID, PREFIX, ensure_console_client
from core.demo import seeder
from core.services import Services
from idp.accounts.service import set_password
from idp.identities.errors import IdentityExists
from idp.identities.models import Person
from idp.identities.proofing import LocalRegistryProofing
from idp.identities.service import IdentityService
from idp.identities.storage import SqlIdentityStore
from seal.registry import SealRegistry

APPROVER = {"id_number": "350102199002020048", "name": "陈静", "phone": "13600136000"}
GRANT_PERIOD = timedelta(days=365)


def _approver(services: Services) -> Person:
    clock = services.keys.clock
    identities = IdentityService(services.sessions, services.identifiers, services.audit, clock)
    LocalRegistryProofing(services.sessions, services.identifiers).add(
        APPROVER["id_number"], APPROVER["name"]
    )
    try:
        return identities.register_person(
            APPROVER["id_number"], APPROVER["name"], APPROVER["phone"], actor="demo"
        )
    except IdentityExists:
        with services.sessions() as session:
            found = SqlIdentityStore().person_by_id_number(
                session, services.identifiers, APPROVER["id_number"]
            )
        assert found is not None
        return found


def _approval_seal(services: Services, approver: Person) -> str:
    """The authority's approval seal, made if missing, and a valid grant of it to the
    approver, made if missing (by the authority's legal representative)."""
    store = SqlIdentityStore()
    with services.sessions() as session:
        authority = store.organisation_by_uscc(session, AUTHORITY["uscc"])
        admin = store.person_by_id_number(session, services.identifiers, CIVIL_SERVANT["id_number"])
    assert authority is not None and admin is not None  # certs.demo ran first
    seals = SealRegistry(services.sessions, services.keys, services.audit, services.keys.clock)
    found = [
        s for s in seals.seals_of(authority.id) if s.kind == "approval" and s.status == "active"
    ]
    seal = (
        found[0]
        if found
        else seals.create(organisation_id=authority.id, kind="approval", by=admin.id)
    )
    now = services.keys.clock()
    with services.sessions() as session:
        grants = seals.store.grants(session, seal.id, approver.id)
    if not any(grant.valid_at(now) for grant in grants):
        seals.grant(seal.id, approver.id, by=admin.id, valid_until=now + GRANT_PERIOD)
    return seal.id


@seeder("console")
def seed_console(services: Services) -> dict[str, Any]:
    ensure_console_client(services)
    approver = _approver(services)
    password = f"Demo-{secrets.token_urlsafe(12)}"
    set_password(services.idp, approver.id, password, actor="demo")
    seal_id = _approval_seal(services, approver)
    return {
        "url": f"{services.idp.ctx.issuer}{PREFIX}/",
        "client_id": CLIENT_ID,
        "login": "any of idp.users, certs.admin (licence and seal administrator of the "
        "authority) or console.approver (may use the authority's approval seal)",
        "approver": {**APPROVER, "password": password, "subject": approver.subject},
        "approval_seal": seal_id,
        "platform_admins": "to administer the platform, restart with "
        "GOVTRUST_PLATFORM_ADMINS='[\"<subject>\"]' naming a subject of this file "
        f"(e.g. certs.admin.subject); configured now: {len(services.settings.platform_admins)}",
    }
