"""Licences over HTTP: an issuing authority's administrator issues and manages its licences,
holders read their own, a scanned paper print tells what it is worth; every other caller
gets 401/403 for a missing token or scope and 404 for a licence it may not see; no response
ever holds a clear resident ID number."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from certs import access
from certs.demo_types import BUSINESS_LICENCE, TOUR_GUIDE_CARD, demo_licence_types
from certs.identifiers import licence_identifier
from certs.service import LicenceService
from core.app import create_app
from core.demo import seed_demo
from core.services import Services
from idp.accounts.service import set_password
from idp.clients.channels import Channel
from idp.identities.service import IdentityService
from idp.oauth.server import ACCOUNT_SCOPE
from seal.registry import SealRegistry
from tests.certs.conftest import BUSINESS_FIELDS, GUIDE_FIELDS, audit_entries
from tests.idp.oidc_helpers import (
    PASSWORD,
    REDIRECT,
    client_service,
    code_flow_tokens,
)

AUTHORITY_A = "11350100MB00000012"  # 福州市市场监督管理局 (check character computed)
AUTHORITY_B = "11350200MB0000002A"  # 厦门市市场监督管理局
COMPANY = "91350100M000100Y43"
ADMIN_A, ADMIN_B = "350102198503150022", "350102197806200037"
CITIZEN, STRANGER, NOBODY = "11010519491231002X", "350102198001010011", "440305199001010050"
ID_NUMBERS = (ADMIN_A, ADMIN_B, CITIZEN, STRANGER, NOBODY)
ADMIN_SCOPE = "openid licence:admin"
HOLDER_SCOPE = f"openid {ACCOUNT_SCOPE}"


class RecordingClient(TestClient):
    """A test client that keeps every response body, to search them for ID numbers."""

    seen: list[str]

    def request(self, *args: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        response = super().request(*args, **kwargs)
        self.seen.append(response.text)
        return response


def assert_no_clear_id_number(client: RecordingClient) -> None:
    assert client.seen
    for text in client.seen:
        for number in ID_NUMBERS:
            assert number not in text, text[:300]


@dataclass
class World:
    services: Services
    app: FastAPI
    client_id: str
    client_secret: str
    subjects: dict[str, str]
    person_ids: dict[str, str]
    company_id: str

    def token(self, id_number: str, scope: str = ADMIN_SCOPE) -> str:
        browser = TestClient(self.app, base_url="https://govtrust.test")
        tokens = code_flow_tokens(
            browser, self.client_id, self.client_secret, username=id_number, scope=scope
        )
        return str(tokens["access_token"])


@pytest.fixture
def world(services: Services) -> World:
    clock = services.keys.clock
    ids = IdentityService(services.sessions, services.identifiers, services.audit, clock)
    people = {}
    for number, name in (
        (ADMIN_A, "王芳"),
        (ADMIN_B, "陈明"),
        (CITIZEN, "张三"),
        (STRANGER, "李四"),
        (NOBODY, "赵六"),
    ):
        people[number] = ids.register_person(number, name, actor="t")
        set_password(services.idp, people[number].id, PASSWORD)
    authority = ids.register_organisation(
        AUTHORITY_A, "福州市市场监督管理局", people[ADMIN_A].id, actor="t"
    )
    ids.register_organisation(AUTHORITY_B, "厦门市市场监督管理局", people[ADMIN_B].id, actor="t")
    company = ids.register_organisation(
        COMPANY, "福州示例科技有限公司", people[CITIZEN].id, actor="t"
    )
    seals = SealRegistry(services.sessions, services.keys, services.audit, clock)
    seal = seals.create(organisation_id=authority.id, kind="official", by=people[ADMIN_A].id)
    licences = LicenceService(services.sessions, services.identifiers, services.audit, clock)
    for licence_type in demo_licence_types(seal_id=seal.id):
        licences.register_type(licence_type, "t")
    clients = client_service(services)
    client, secret = clients.register(
        name="电子证照制证系统",
        channel=Channel.WEB,
        redirect_uris=[REDIRECT],
        scope=f"openid profile licence:admin {ACCOUNT_SCOPE}",
    )
    assert secret
    return World(
        services,
        create_app(services=services),
        client.client_id,
        secret,
        {number: person.subject for number, person in people.items()},
        {number: person.id for number, person in people.items()},
        company.id,
    )


@pytest.fixture
def client(world: World) -> Iterator[RecordingClient]:
    recording = RecordingClient(world.app, base_url="https://govtrust.test")
    recording.seen = []
    yield recording
    assert_no_clear_id_number(recording)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def business_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type_code": BUSINESS_LICENCE,
        "holder": {"name": "福州示例科技有限公司", "code": COMPANY, "code_type": "001"},
        "fields": dict(BUSINESS_FIELDS, name="福州示例科技有限公司"),
    }
    body.update(extra)
    return body


def guide_body() -> dict[str, Any]:
    return {
        "type_code": TOUR_GUIDE_CARD,
        "holder": {"name": "张三", "code": CITIZEN, "code_type": "111"},
        "fields": dict(GUIDE_FIELDS, name="张三"),
        "reason": "考核合格",
    }


def issued(client: TestClient, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/licences", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return dict(response.json())


def actions(services: Services) -> list[str]:
    return [entry.event.action for entry in audit_entries(services)]


# -- licence types ------------------------------------------------------------------------------


def test_licence_types_are_public(client: RecordingClient) -> None:
    listed = client.get("/licence-types")
    assert listed.status_code == 200
    assert {t["name"] for t in listed.json()} == {"营业执照", "食品经营许可证", "导游证"}
    one = client.get(f"/licence-types/{TOUR_GUIDE_CARD}")
    assert one.status_code == 200
    body = one.json()
    assert (body["holder_code_type"], body["validity_years"]) == ("111", 3)
    assert body["fields_schema"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    missing = client.get("/licence-types/11100000MB0143028R999")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert client.get("/licence-types/not-a-code").status_code == 422


# -- the administrator's lifecycle --------------------------------------------------------------


def test_issue_and_every_step_by_the_issuers_administrator(
    world: World, client: RecordingClient
) -> None:
    admin = world.token(ADMIN_A)
    business = issued(client, admin, business_body())
    assert (business["version"], business["state"]) == (1, "valid")
    assert business["issuer_uscc"] == AUTHORITY_A
    assert business["issuer_name"] == "福州市市场监督管理局"
    assert business["metadata"]["identifier"] == business["identifier"]
    assert business["metadata"]["licence_number"] == business["licence_number"]
    assert business["metadata"]["valid_until"] == "长期"
    assert business["metadata"]["holder_code"] == COMPANY
    identifier = business["identifier"]
    assert identifier.startswith(f"1.2.156.3005.2.{BUSINESS_LICENCE}.{AUTHORITY_A}.")

    shown = client.get(f"/licences/{identifier}", headers=bearer(admin))
    assert shown.status_code == 200 and shown.json()["fields"] == business["fields"]

    changed = client.post(
        f"/licences/{identifier}/change",
        json={"reason": "住所变更", "fields": dict(business["fields"], address="福州市台江区1号")},
        headers=bearer(admin),
    )
    assert changed.status_code == 200, changed.text
    second = changed.json()
    assert (second["version"], second["supersedes"]) == (2, identifier)
    old = client.get(f"/licences/{identifier}", headers=bearer(admin)).json()
    assert (old["state"], old["superseded_by"]) == ("superseded", second["identifier"])
    no_reason = client.post(
        f"/licences/{second['identifier']}/suspend", json={}, headers=bearer(admin)
    )
    assert no_reason.status_code == 422
    step = second["identifier"]
    for event, state in (("suspend", "suspended"), ("resume", "valid")):
        done = client.post(
            f"/licences/{step}/{event}", json={"reason": event}, headers=bearer(admin)
        )
        assert (done.status_code, done.json()["state"]) == (200, state), done.text
    long_term = client.post(
        f"/licences/{step}/renew", json={"valid_until": "2040-01-01"}, headers=bearer(admin)
    )
    assert (
        long_term.status_code == 422 and long_term.json()["type"] == "/problems/licence-long-term"
    )

    guide = issued(client, admin, guide_body())
    assert guide["holder_code"] == "110105********002X"
    assert guide["valid_until"] == "2029-11-26"
    renewed = client.post(
        f"/licences/{guide['identifier']}/renew",
        json={"valid_until": "2032-11-26", "reason": "延续"},
        headers=bearer(admin),
    )
    assert renewed.status_code == 200, renewed.text
    assert (renewed.json()["version"], renewed.json()["valid_until"]) == (2, "2032-11-26")
    reissued = client.post(
        f"/licences/{renewed.json()['identifier']}/reissue",
        json={"reason": "遗失补发"},
        headers=bearer(admin),
    )
    assert reissued.status_code == 200 and reissued.json()["version"] == 3
    last = reissued.json()["identifier"]
    revoked = client.post(
        f"/licences/{last}/revoke", json={"reason": "注销"}, headers=bearer(admin)
    )
    assert (revoked.status_code, revoked.json()["state"]) == (200, "revoked")
    again = client.post(f"/licences/{last}/revoke", json={"reason": "注销"}, headers=bearer(admin))
    assert again.status_code == 422
    assert again.json()["type"] == "/problems/illegal-licence-transition"

    versions = client.get(f"/licences/{guide['identifier']}/versions", headers=bearer(admin))
    assert [v["version"] for v in versions.json()] == [1, 2, 3]
    assert [v["state"] for v in versions.json()] == ["superseded", "superseded", "revoked"]
    history = client.get(f"/licences/{last}/history", headers=bearer(admin)).json()
    assert [(h["event"], h["to_state"]) for h in history] == [
        ("issue", "valid"),
        ("renew", "superseded"),
        ("renew", "valid"),
        ("reissue", "superseded"),
        ("reissue", "valid"),
        ("revoke", "revoked"),
    ]
    assert {h["actor"] for h in history} == {world.subjects[ADMIN_A]}

    recorded = actions(world.services)
    for action in (
        "licence.issued",
        "licence.changed",
        "licence.suspended",
        "licence.resumed",
        "licence.renewed",
        "licence.reissued",
        "licence.revoked",
    ):
        assert action in recorded, action
    mine = [e for e in audit_entries(world.services) if e.event.object_type == "licence"]
    assert {e.event.actor for e in mine} == {world.subjects[ADMIN_A]}


def test_issue_is_refused_when_it_does_not_fit(world: World, client: RecordingClient) -> None:
    admin = world.token(ADMIN_A)
    wrong_type = client.post(
        "/licences",
        json=business_body(holder={"name": "张三", "code": CITIZEN, "code_type": "111"}),
        headers=bearer(admin),
    )
    assert wrong_type.status_code == 422
    bad_code = client.post(
        "/licences",
        json=business_body(holder={"name": "x", "code": "11010519491231002Y", "code_type": "001"}),
        headers=bearer(admin),
    )
    assert (
        bad_code.status_code == 422 and bad_code.json()["type"] == "/problems/invalid-holder-code"
    )
    bad_fields = client.post("/licences", json=business_body(fields={}), headers=bearer(admin))
    assert bad_fields.status_code == 422
    assert bad_fields.json()["type"] == "/problems/invalid-licence-fields"
    unknown = client.post(
        "/licences", json=business_body(type_code="11100000MB0143028R999"), headers=bearer(admin)
    )
    assert unknown.status_code == 404
    other_authority = client.post(
        "/licences", json=business_body(issuer_uscc=AUTHORITY_B), headers=bearer(admin)
    )
    assert other_authority.status_code == 403
    nobody = client.post("/licences", json=business_body(), headers=bearer(world.token(NOBODY)))
    assert nobody.status_code == 403
    assert nobody.json()["type"] == "/problems/not-licence-administrator"
    assert client.post("/licences", json=business_body()).status_code == 401


# -- who may see and do what --------------------------------------------------------------------


def test_another_authority_cannot_see_or_touch_a_licence(
    world: World, client: RecordingClient
) -> None:
    licence = issued(client, world.token(ADMIN_A), business_body())
    identifier = licence["identifier"]
    other = bearer(world.token(ADMIN_B))
    theirs = issued(client, world.token(ADMIN_B), business_body())["identifier"]
    revoke_own = client.post(f"/licences/{theirs}/revoke", json={"reason": "x"}, headers=other)
    assert revoke_own.status_code == 200
    # a licence one may not see answers exactly like a well-formed identifier of none
    absent = licence_identifier(BUSINESS_LICENCE, AUTHORITY_A, "9999999", 1)
    nothing = client.get(f"/licences/{absent}", headers=other)
    hidden = client.get(f"/licences/{identifier}", headers=other)
    assert (nothing.status_code, nothing.json()) == (hidden.status_code, hidden.json())
    for method, path, body in (
        ("GET", f"/licences/{identifier}", None),
        ("GET", f"/licences/{identifier}/history", None),
        ("GET", f"/licences/{identifier}/versions", None),
        ("POST", f"/licences/{identifier}/change", {"reason": "x", "fields": BUSINESS_FIELDS}),
        ("POST", f"/licences/{identifier}/suspend", {"reason": "x"}),
        ("POST", f"/licences/{identifier}/resume", {"reason": "x"}),
        ("POST", f"/licences/{identifier}/revoke", {"reason": "x"}),
        ("POST", f"/licences/{identifier}/reissue", {"reason": "x"}),
        ("POST", f"/licences/{identifier}/renew", {"valid_until": "2040-01-01"}),
        ("POST", f"/licences/{identifier}/prints", None),
    ):
        response = client.request(method, path, json=body, headers=other)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["type"] == "/problems/licence-not-found"
    found = client.post("/licences/search", json={"holder_code": COMPANY}, headers=other)
    assert [x["identifier"] for x in found.json()] == [theirs]
    shown = client.get(f"/licences/{identifier}", headers=bearer(world.token(ADMIN_A)))
    assert (shown.status_code, shown.json()["state"]) == (200, "valid")
    assert "licence.revoked" in actions(world.services)


def test_holders_read_their_own_and_nothing_more(world: World, client: RecordingClient) -> None:
    admin = world.token(ADMIN_A)
    business = issued(client, admin, business_body())
    guide = issued(client, admin, guide_body())
    holder = world.token(CITIZEN, HOLDER_SCOPE)
    mine = client.get("/me/licences", headers=bearer(holder))
    assert mine.status_code == 200
    assert {x["identifier"] for x in mine.json()} == {business["identifier"], guide["identifier"]}
    own = client.get(f"/licences/{guide['identifier']}", headers=bearer(holder))
    assert (own.status_code, own.json()["holder_code"]) == (200, "110105********002X")
    history = client.get(f"/licences/{guide['identifier']}/history", headers=bearer(holder))
    assert history.status_code == 200 and [h["actor"] for h in history.json()] == [None]
    versions = client.get(f"/licences/{business['identifier']}/versions", headers=bearer(holder))
    assert versions.status_code == 200 and len(versions.json()) == 1
    # the holder's token with openid but not account reads nothing as holder (RFC 6750 §3.1)
    openid_only = bearer(world.token(CITIZEN, "openid"))
    refused_wallet = client.get("/me/licences", headers=openid_only)
    assert refused_wallet.status_code == 403
    assert f'scope="{ACCOUNT_SCOPE}"' in refused_wallet.headers["www-authenticate"]
    assert client.get(f"/licences/{guide['identifier']}", headers=openid_only).status_code == 404
    # a holder cannot revoke: not with a person's token, nor with the admin scope
    refused = client.post(
        f"/licences/{guide['identifier']}/revoke", json={"reason": "x"}, headers=bearer(holder)
    )
    assert refused.status_code == 403
    assert "insufficient_scope" in refused.headers["www-authenticate"]
    scoped = bearer(world.token(CITIZEN, ADMIN_SCOPE))
    hidden = client.post(
        f"/licences/{guide['identifier']}/revoke", json={"reason": "x"}, headers=scoped
    )
    assert hidden.status_code == 404
    # someone else sees nothing, and cannot read the licences by identifier
    stranger = bearer(world.token(STRANGER, HOLDER_SCOPE))
    assert client.get("/me/licences", headers=stranger).json() == []
    for identifier in (business["identifier"], guide["identifier"]):
        assert client.get(f"/licences/{identifier}", headers=stranger).status_code == 404
    # anonymous: no token, no licence
    assert client.get(f"/licences/{guide['identifier']}").status_code == 401
    assert client.get("/me/licences").status_code == 401
    # an agent of the company with licence:read sees the company's licence, not the person's
    ids = IdentityService(
        world.services.sessions,
        world.services.identifiers,
        world.services.audit,
        world.services.keys.clock,
    )
    ids.grant_agent(
        world.company_id,
        world.person_ids[STRANGER],
        ["licence:read"],
        None,
        granted_by=world.person_ids[CITIZEN],
    )
    agent = client.get("/me/licences", headers=stranger).json()
    assert [x["identifier"] for x in agent] == [business["identifier"]]
    assert client.get(f"/licences/{guide['identifier']}", headers=stranger).status_code == 404


def test_search_by_number_or_holder_code_in_the_body(world: World, client: RecordingClient) -> None:
    admin = bearer(world.token(ADMIN_A))
    guide = issued(client, world.token(ADMIN_A), guide_body())
    by_holder = client.post("/licences/search", json={"holder_code": CITIZEN}, headers=admin)
    assert by_holder.status_code == 200
    assert [x["identifier"] for x in by_holder.json()] == [guide["identifier"]]
    by_number = client.post(
        "/licences/search", json={"licence_number": guide["licence_number"]}, headers=admin
    )
    assert [x["identifier"] for x in by_number.json()] == [guide["identifier"]]
    typed = client.post(
        "/licences/search",
        json={"holder_code": CITIZEN, "type_code": BUSINESS_LICENCE},
        headers=admin,
    )
    assert typed.json() == []
    both = client.post(
        "/licences/search",
        json={"holder_code": CITIZEN, "licence_number": guide["licence_number"]},
        headers=admin,
    )
    assert both.status_code == 422
    assert client.post("/licences/search", json={}, headers=admin).status_code == 422
    invalid = client.post(
        "/licences/search", json={"holder_code": "11010519491231002Y"}, headers=admin
    )
    assert invalid.status_code == 422 and "11010519491231002Y" not in invalid.text
    holder = bearer(world.token(CITIZEN, HOLDER_SCOPE))
    refused = client.post("/licences/search", json={"holder_code": CITIZEN}, headers=holder)
    assert refused.status_code == 403
    nobody = bearer(world.token(NOBODY))
    assert (
        client.post("/licences/search", json={"holder_code": CITIZEN}, headers=nobody).status_code
        == 403
    )
    searched = [e for e in audit_entries(world.services) if e.event.action == "licence.searched"]
    assert searched[0].event.details == {
        "criterion": "holder_code",
        "found": [guide["identifier"]],
    }


def test_malformed_identifier_is_422(world: World, client: RecordingClient) -> None:
    admin = bearer(world.token(ADMIN_A))
    licence = issued(client, world.token(ADMIN_A), business_body())
    identifier = licence["identifier"]
    wrong_check = identifier[:-1] + ("A" if identifier[-1] != "A" else "B")
    for bad in (
        wrong_check,
        "1.2.156.3005.2.nonsense.identifier",
        identifier.replace(".001.", ".000."),
    ):
        got = client.get(f"/licences/{bad}", headers=admin)
        assert got.status_code == 422, (bad, got.text)
        posted = client.post(f"/licences/{bad}/revoke", json={"reason": "x"}, headers=admin)
        assert posted.status_code == 422
    assert client.get("/licences/short", headers=admin).status_code == 422


# -- paper prints -------------------------------------------------------------------------------


def test_print_status_current_superseded_and_lost(world: World, client: RecordingClient) -> None:
    token = world.token(ADMIN_A)
    admin = bearer(token)
    guide = issued(client, token, guide_body())
    first = client.post(f"/licences/{guide['identifier']}/prints", headers=admin)
    assert first.status_code == 201, first.text
    old_serial = first.json()["print_serial"]
    assert first.json()["status_path"] == f"/licence-prints/{old_serial}/status"
    current = client.get(f"/licence-prints/{old_serial}/status")  # public: no token
    assert current.status_code == 200
    status = current.json()
    assert (status["verdict"], status["valid"], status["message"]) == ("valid", True, "valid")
    assert (status["holder_name"], status["licence_type"]) == ("张*", "导游证")
    assert "holder_code" not in status and "张三" not in current.text

    changed = client.post(
        f"/licences/{guide['identifier']}/change",
        json={"reason": "等级变更", "fields": dict(guide["fields"], level="高级")},
        headers=admin,
    ).json()
    outdated = client.get(f"/licence-prints/{old_serial}/status").json()
    assert (outdated["verdict"], outdated["message"]) == ("superseded", "superseded by version 2")
    assert (outdated["version"], outdated["current_version"], outdated["valid"]) == (1, 2, False)
    superseded_print = client.post(f"/licences/{guide['identifier']}/prints", headers=admin)
    assert superseded_print.status_code == 409

    new_serial = client.post(f"/licences/{changed['identifier']}/prints", headers=admin).json()[
        "print_serial"
    ]
    assert client.get(f"/licence-prints/{new_serial}/status").json()["verdict"] == "valid"
    other = bearer(world.token(ADMIN_B))
    assert client.post(f"/licence-prints/{new_serial}/lost", headers=other).status_code == 404
    holder = bearer(world.token(CITIZEN, HOLDER_SCOPE))
    assert client.post(f"/licence-prints/{new_serial}/lost", headers=holder).status_code == 403
    lost = client.post(f"/licence-prints/{new_serial}/lost", headers=admin)
    assert (lost.status_code, lost.json()["status"]) == (200, "lost"), lost.text
    reported = client.get(f"/licence-prints/{new_serial}/status").json()
    assert (reported["verdict"], reported["message"]) == ("print_lost", "print reported lost")
    twice = client.post(f"/licence-prints/{new_serial}/lost", headers=admin)
    assert twice.status_code == 409
    assert client.get("/licence-prints/0123456789ABCDEF/status").status_code == 404
    assert client.post("/licence-prints/0123456789ABCDEF/lost", headers=admin).status_code == 404
    assert client.get("/licence-prints/not-a-serial/status").status_code == 422
    recorded = actions(world.services)
    assert recorded.count("licence.printed") == 2 and "licence.print_lost" in recorded


def test_demo_seeder_is_idempotent(services: Services, tmp_path: Path) -> None:
    first = seed_demo(services, tmp_path / "demo.json")["certs"]
    second = seed_demo(services, tmp_path / "demo.json")["certs"]
    assert second["licences"] == first["licences"]
    assert second["admin"]["password"] != first["admin"]["password"]
    assert first["issuing_authority"]["name"] == "福州市市场监督管理局"
    licences = LicenceService(
        services.sessions, services.identifiers, services.audit, services.keys.clock
    )
    caller = access.caller_by_subject(licences, first["admin"]["subject"])
    assert caller is not None
    assert [a.uscc for a in caller.authorities] == [first["issuing_authority"]["uscc"]]
    for entry in first["licences"].values():
        licence = access.administered_licence(licences, caller, entry["identifier"])
        assert licence.issuer_uscc == first["issuing_authority"]["uscc"]
    guide = licences.get(first["licences"]["tour_guide_card"]["identifier"])
    assert (guide.holder_name, guide.holder_code_masked) == ("张三", "110105********002X")
    # the demo authority's official seal seals its licences, made once
    assert second["licence_types_sealed_by"] == first["licence_types_sealed_by"] is not None
    seals = SealRegistry(services.sessions, services.keys, services.audit, services.keys.clock)
    seal = seals.get(first["licence_types_sealed_by"])
    assert (seal.kind, seal.organisation_name) == ("official", "福州市市场监督管理局")
