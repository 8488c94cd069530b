"""IDOR on seals: the administrator of another organisation, with every seal scope, can
neither see nor touch an organisation's seal, its grants or its uses (404 as if it did not
exist, or 403). Licences and consents are shown in tests/certs and tests/idp (README.md)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.services import Services
from idp.identities.service import IdentityService
from tests.conftest import FrozenClock
from tests.seal.conftest import cjk_one_page_pdf, wqy_font
from tests.seal.test_seal_api import BOSS, CLERK, Office, app, bearer, client, office, token_for

__all__ = ["app", "cjk_one_page_pdf", "client", "office", "wqy_font"]  # fixtures used below

OTHER_ORG = "91110000100000000R"


def test_another_organisations_admin_cannot_reach_a_seal(
    app: FastAPI,
    client: TestClient,
    office: Office,
    services: Services,
    clock: FrozenClock,
    cjk_one_page_pdf: bytes,
) -> None:
    ids = IdentityService(
        services.sessions, services.identifiers, services.audit, services.keys.clock
    )
    # the clerk is the legal representative (so the seal administrator) of another company
    ids.register_organisation(OTHER_ORG, "北京另一家有限公司", office.clerk_id, actor="t")
    boss = token_for(app, office, BOSS, office.boss_id, clock)
    intruder = token_for(app, office, CLERK, office.clerk_id, clock)
    seal = client.post(
        "/seals", json={"organisation_id": office.org, "kind": "approval"}, headers=bearer(boss)
    ).json()
    until = (clock.now + timedelta(days=30)).isoformat()
    grant = client.post(
        f"/seals/{seal['id']}/grants",
        headers=bearer(boss),
        json={"person_subject": office.clerk_subject, "valid_until": until},
    )
    assert grant.status_code == 201, grant.text
    # the grant was to the clerk as a person; withdraw it so the clerk holds nothing here
    assert (
        client.post(f"/seal-grants/{grant.json()['id']}/withdraw", headers=bearer(boss)).status_code
        == 200
    )
    attempts = [
        ("post", "/seals", {"json": {"organisation_id": office.org, "kind": "official"}}),
        ("post", f"/seals/{seal['id']}/suspend", {"json": {"reason": "x"}}),
        ("post", f"/seals/{seal['id']}/resume", {"json": {"reason": "x"}}),
        ("post", f"/seals/{seal['id']}/revoke", {"json": {"reason": "x"}}),
        (
            "post",
            f"/seals/{seal['id']}/grants",
            {"json": {"person_subject": office.clerk_subject, "valid_until": until}},
        ),
        ("post", f"/seal-grants/{grant.json()['id']}/withdraw", {}),
        ("get", f"/seals/{seal['id']}/uses", {}),
        ("get", f"/organisations/{office.org}/seals", {}),
        (
            "post",
            f"/seals/{seal['id']}/stamp",
            {
                "files": {"document": ("a.pdf", cjk_one_page_pdf, "application/pdf")},
                "data": {"level": "B-B", "page": "0", "x": "300", "y": "200"},
            },
        ),
    ]
    for method, path, kwargs in attempts:
        answer = client.request(method.upper(), path, headers=bearer(intruder), **kwargs)
        assert answer.status_code in (403, 404), (path, answer.status_code, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    # nothing changed: the seal is active and its owner still manages it
    uses = client.get(f"/seals/{seal['id']}/uses", headers=bearer(boss))
    assert uses.status_code == 200 and uses.json() == []
    listed = client.get(f"/organisations/{office.org}/seals", headers=bearer(boss)).json()
    assert [s["status"] for s in listed if s["id"] == seal["id"]] == [seal["status"]]
