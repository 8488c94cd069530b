"""Consented sharing of licences (授权用证), on both backends: a third party asks for
``licence:read:<type>`` with a stated purpose, the holder consents on the consent page (which
shows the licence type and the purpose), the third party reads the holder's current licences,
every read is recorded where the holder sees it, and after the holder withdraws the consent
the token and its refresh token read nothing more. A department system queries by holder code
for its legal duty, recorded the same way. Wrong scopes, clients without consent and another
person's licences are refused. The third party's token holds ``openid`` too, yet opens none
of the holder's own account APIs (``/me/*``, which need ``account``): 403 there."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from certs.demo_types import BUSINESS_LICENCE, TOUR_GUIDE_CARD, demo_licence_types
from certs.service import LicenceService
from certs.sharing import LicenceSharing, query_scope, read_scope
from certs.sharing_storage import LicenceAccessRow
from core.app import create_app
from core.services import Services
from idp.accounts.service import set_password
from idp.admin.consents import withdraw_consent
from idp.clients.channels import Channel
from idp.identities.service import IdentityService
from idp.identities.storage import OrganisationRow, PersonRow
from idp.oauth.server import ACCOUNT_SCOPE
from idp.oauth.storage import ConsentRow, GrantRow
from idp.pages import TEXT
from idp.routers import authorize
from tests.certs.conftest import BUSINESS_FIELDS, GUIDE_FIELDS, audit_entries
from tests.idp.oidc_helpers import (
    PASSWORD,
    REDIRECT,
    authorize_params,
    callback_params,
    client_service,
    csrf_of,
    follow,
    login_and_consent,
    pkce_pair,
)
from tests.thread_outcome import in_thread

AUTHORITY = "11350100MB00000012"
COMPANY = "91350100M000100Y43"
CITIZEN, OTHER = "11010519491231002X", "350102198001010011"
PURPOSE = "办理个人住房贷款时核验导游证"
READ_GUIDE = read_scope(TOUR_GUIDE_CARD)
READ_BUSINESS = read_scope(BUSINESS_LICENCE)
OWN = f"openid {ACCOUNT_SCOPE}"  # the holder's own portal, at their own account APIs


@dataclass
class Tokens:
    access: str
    refresh: str | None


@dataclass
class World:
    services: Services
    app: FastAPI
    secrets: dict[str, tuple[str, str]]  # name -> (client_id, secret)
    guides: dict[str, str]  # id number -> identifier of their tour guide card
    business: str

    def browser(self) -> TestClient:
        return TestClient(self.app, base_url="https://govtrust.test")

    def tokens(
        self,
        client: str,
        id_number: str,
        scope: str,
        *,
        acting_as: str = "self",
        **extra: str,
    ) -> Tokens:
        client_id, _ = self.secrets[client]
        browser = self.browser()
        verifier, challenge = pkce_pair()
        params = authorize_params(client_id, challenge, scope=scope, **extra)
        back = callback_params(
            login_and_consent(browser, params, username=id_number, acting_as=acting_as)
        )
        assert "code" in back, back
        return self.exchange(client, back["code"], verifier, browser)

    def redeem(self, client: str, code: str, verifier: str, browser: TestClient) -> httpx.Response:
        """The token endpoint's answer to ``client`` redeeming ``code`` (RFC 6749 §4.1.3)."""
        return browser.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            auth=self.secrets[client],
        )

    def exchange(self, client: str, code: str, verifier: str, browser: TestClient) -> Tokens:
        answer = self.redeem(client, code, verifier, browser)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return Tokens(str(body["access_token"]), body.get("refresh_token"))

    def service_token(self, scope: str) -> str:
        client_id, secret = self.secrets["department"]
        answer = self.browser().post(
            "/token",
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(client_id, secret),
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])


@pytest.fixture
def world(services: Services) -> World:
    clock = services.keys.clock
    ids = IdentityService(services.sessions, services.identifiers, services.audit, clock)
    people = {}
    for number, name in ((CITIZEN, "张三"), (OTHER, "李四"), ("350102198503150022", "王芳")):
        people[number] = ids.register_person(number, name, actor="t")
        set_password(services.idp, people[number].id, PASSWORD)
    ids.register_organisation(COMPANY, "福州示例科技有限公司", people[CITIZEN].id, actor="t")
    licences = LicenceService(services.sessions, services.identifiers, services.audit, clock)
    for licence_type in demo_licence_types():
        licences.register_type(licence_type, "t")
    guides = {}
    for number, name in ((CITIZEN, "张三"), (OTHER, "李四")):
        guides[number] = licences.issue(
            TOUR_GUIDE_CARD,
            AUTHORITY,
            "福建省文化和旅游厅",
            name,
            number,
            dict(GUIDE_FIELDS, name=name),
            date(2026, 11, 27),
            "t",
        ).identifier
    business = licences.issue(
        BUSINESS_LICENCE,
        AUTHORITY,
        "福州市市场监督管理局",
        "福州示例科技有限公司",
        COMPANY,
        dict(BUSINESS_FIELDS, name="福州示例科技有限公司"),
        date(2026, 11, 27),
        "t",
    ).identifier
    clients = client_service(services)
    registered = {}
    for name, channel, scope, label in (
        ("bank", Channel.WEB, f"openid offline_access {READ_GUIDE} {READ_BUSINESS}", "示例银行"),
        ("landlord", Channel.WEB, "openid profile", "房屋租赁平台"),
        ("portal", Channel.WEB, f"openid profile {ACCOUNT_SCOPE}", "省政务服务网"),
        ("department", Channel.SERVICE, f"{query_scope(TOUR_GUIDE_CARD)} licence:read", "公安"),
    ):
        client, secret = clients.register(
            name=label,
            channel=channel,
            redirect_uris=[REDIRECT] if channel is Channel.WEB else [],
            scope=scope,
        )
        assert secret
        registered[name] = (client.client_id, secret)
    return World(services, create_app(services=services), registered, guides, business)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def shared(world: World, token: str, type_code: str = TOUR_GUIDE_CARD) -> httpx.Response:
    response = world.browser().get(
        f"/shared-licences?{urlencode({'type': type_code})}", headers=bearer(token)
    )
    assert CITIZEN not in response.text and OTHER not in response.text
    return response


def accesses(world: World, holder: str) -> list[dict[str, Any]]:
    portal = world.tokens("portal", holder, OWN)
    answer = world.browser().get("/me/licence-accesses", headers=bearer(portal.access))
    assert answer.status_code == 200, answer.text
    assert CITIZEN not in answer.text and OTHER not in answer.text
    return list(answer.json()["accesses"])


def test_consent_given_used_withdrawn_then_refused(world: World) -> None:
    client_id, _ = world.secrets["bank"]
    browser = world.browser()
    verifier, challenge = pkce_pair()
    scope = f"openid offline_access {READ_GUIDE}"  # reads while the holder is away, too
    params = authorize_params(client_id, challenge, scope=scope, purpose=PURPOSE)
    page = follow(browser, browser.get(f"/authorize?{urlencode(params)}", follow_redirects=False))
    action = re.search(r'action="([^"]+)"', page.text)
    assert action
    posted = browser.post(
        action.group(1),
        data={"username": CITIZEN, "password": PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    consent_page = follow(browser, posted)
    if 'name="acting_as"' in consent_page.text:  # the citizen represents a company
        choose = re.search(r'action="([^"]+)"', consent_page.text)
        assert choose
        consent_page = follow(
            browser,
            browser.post(
                choose.group(1),
                data={"acting_as": "self", "csrf": csrf_of(consent_page.text)},
                follow_redirects=False,
            ),
        )
    assert 'name="consent"' in consent_page.text
    assert "导游证" in consent_page.text and PURPOSE in consent_page.text
    assert "示例银行" in consent_page.text
    assert TEXT["zh"]["scope.offline_access"] in consent_page.text  # the holder is told
    allow = re.search(r'action="([^"]+)"', consent_page.text)
    assert allow
    back = callback_params(
        browser.post(
            allow.group(1),
            data={"consent": "allow", "csrf": csrf_of(consent_page.text)},
            follow_redirects=False,
        )
    )
    tokens = world.exchange("bank", back["code"], verifier, browser)
    assert tokens.refresh

    read = shared(world, tokens.access)
    assert read.status_code == 200, read.text
    body = read.json()
    assert (body["basis"], body["purpose"], body["type_code"]) == (
        "consent",
        PURPOSE,
        TOUR_GUIDE_CARD,
    )
    [licence] = body["licences"]
    assert licence["identifier"] == world.guides[CITIZEN]
    assert licence["holder_code"] == "110105********002X"

    [logged] = accesses(world, CITIZEN)
    assert (logged["id"], logged["basis"], logged["purpose"]) == (
        body["access_id"],
        "consent",
        PURPOSE,
    )
    assert (logged["client_id"], logged["client_name"]) == (client_id, "示例银行")
    assert logged["licences"] == [world.guides[CITIZEN]]
    assert accesses(world, OTHER) == []

    portal = world.tokens("portal", CITIZEN, OWN)
    listed = world.browser().get("/me/consents", headers=bearer(portal.access)).json()
    [consent] = [c for c in listed["consents"] if c["client_id"] == client_id]
    assert consent["purpose"] == PURPOSE and READ_GUIDE in consent["scope"]
    withdrawn = world.browser().post(
        f"/me/consents/{consent['id']}/withdraw", headers=bearer(portal.access)
    )
    assert withdrawn.status_code == 200, withdrawn.text

    refused = shared(world, tokens.access)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    refreshed = world.browser().post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens.refresh},
        auth=world.secrets["bank"],
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    assert len(accesses(world, CITIZEN)) == 1  # the refused read handed out nothing

    recorded = [e.event for e in audit_entries(world.services)]
    [shared_entry] = [e for e in recorded if e.action == "licence.shared"]
    assert shared_entry.object_id == body["access_id"]
    assert shared_entry.details["purpose"] == PURPOSE
    assert shared_entry.details["client"] == client_id
    assert "consent.withdrawn" in [e.action for e in recorded]


def test_the_purpose_is_required_and_checked(world: World) -> None:
    client_id, _ = world.secrets["bank"]
    for extra in ({}, {"purpose": " "}, {"purpose": "x" * 201}, {"purpose": "a\x01b"}):
        _, challenge = pkce_pair()
        params = authorize_params(client_id, challenge, scope=f"openid {READ_GUIDE}", **extra)
        answer = world.browser().get(f"/authorize?{urlencode(params)}", follow_redirects=False)
        back = callback_params(answer)
        assert back["error"] == "invalid_request", back
        assert "purpose" in back["error_description"]
    _, challenge = pkce_pair()
    params = authorize_params(client_id, challenge, scope=f"openid {READ_GUIDE}", purpose=PURPOSE)
    twice = f"/authorize?{urlencode(params)}&purpose={'x' * 201}"
    back = callback_params(world.browser().get(twice, follow_redirects=False))
    assert back["error_description"] == "purpose is given more than once"


def test_a_remembered_consent_covers_only_the_same_purpose(world: World) -> None:
    world.tokens("bank", CITIZEN, f"openid {READ_GUIDE}", purpose=PURPOSE)
    client_id, _ = world.secrets["bank"]
    browser = world.browser()
    for purpose, asks in ((PURPOSE, False), ("核验导游资格以便签订合同", True)):
        _, challenge = pkce_pair()
        params = authorize_params(
            client_id, challenge, scope=f"openid {READ_GUIDE}", purpose=purpose
        )
        page = follow(
            browser, browser.get(f"/authorize?{urlencode(params)}", follow_redirects=False)
        )
        if 'name="password"' in page.text:
            action = re.search(r'action="([^"]+)"', page.text)
            assert action
            page = follow(
                browser,
                browser.post(
                    action.group(1),
                    data={"username": CITIZEN, "password": PASSWORD, "csrf": csrf_of(page.text)},
                    follow_redirects=False,
                ),
            )
        if 'name="acting_as"' in page.text:
            action = re.search(r'action="([^"]+)"', page.text)
            assert action
            page = follow(
                browser,
                browser.post(
                    action.group(1),
                    data={"acting_as": "self", "csrf": csrf_of(page.text)},
                    follow_redirects=False,
                ),
            )
        if asks:
            assert 'name="consent"' in page.text and purpose in page.text
        else:
            assert page.status_code == 303 and "code=" in page.headers["location"]


def consent_page(world: World, client: str, scope: str, **extra: str) -> str:
    """The consent page the citizen sees (logged in, acting for themselves) when ``client``
    asks for ``scope``."""
    client_id, _ = world.secrets[client]
    browser = world.browser()
    _, challenge = pkce_pair()
    params = authorize_params(client_id, challenge, scope=scope, **extra)
    page = follow(browser, browser.get(f"/authorize?{urlencode(params)}", follow_redirects=False))
    for form, data in (
        ("password", {"username": CITIZEN, "password": PASSWORD}),
        ("acting_as", {"acting_as": "self"}),
    ):
        if f'name="{form}"' in page.text:
            action = re.search(r'action="([^"]+)"', page.text)
            assert action
            posted = browser.post(
                action.group(1), data={**data, "csrf": csrf_of(page.text)}, follow_redirects=False
            )
            page = follow(browser, posted)
    assert 'name="consent"' in page.text, page.text[:300]
    return str(page.text)


# -- the holder's own account APIs are not the third party's (RFC 6750 §3.1) -----------------


def own_apis(consent_id: str) -> list[tuple[str, str]]:
    """Every holder-only operation, by method and path."""
    return [
        ("GET", "/me/licences"),
        ("GET", "/me/licence-accesses"),
        ("GET", "/me/consents"),
        ("POST", f"/me/consents/{consent_id}/withdraw"),
        ("GET", "/me/sessions"),
        ("GET", "/me"),
        ("GET", "/me/organisations"),
    ]


def test_a_consented_third_party_token_opens_none_of_the_holders_own_apis(world: World) -> None:
    bank = world.tokens("bank", CITIZEN, f"openid {READ_GUIDE}", purpose=PURPOSE)
    assert shared(world, bank.access).status_code == 200  # what was consented to: one type
    portal = world.tokens("portal", CITIZEN, OWN)
    browser = world.browser()
    bank_id, _ = world.secrets["bank"]
    listed = browser.get("/me/consents", headers=bearer(portal.access)).json()["consents"]
    [consent] = [c for c in listed if c["client_id"] == bank_id]

    for method, path in own_apis(consent["id"]):
        refused = browser.request(method, path, headers=bearer(bank.access))
        assert refused.status_code == 403, (path, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        challenge = refused.headers["www-authenticate"]
        assert challenge.startswith("Bearer ") and 'error="insufficient_scope"' in challenge
        assert f'scope="{ACCOUNT_SCOPE}"' in challenge, challenge
        assert world.guides[CITIZEN] not in refused.text and world.business not in refused.text
    # nor does the token make the bank a holder of a licence it knows the identifier of
    for identifier in (world.guides[CITIZEN], world.business):
        for suffix in ("", "/history", "/versions"):
            hidden = browser.get(f"/licences/{identifier}{suffix}", headers=bearer(bank.access))
            assert hidden.status_code == 404, (suffix, hidden.text)
            assert hidden.json()["type"] == "/problems/licence-not-found"

    # the consent stands and the bank reads what it was given, nothing else
    assert shared(world, bank.access).status_code == 200
    assert shared(world, bank.access, BUSINESS_LICENCE).status_code == 403
    # the same person's own token opens all of it
    for method, path in own_apis(consent["id"]):
        assert browser.request(method, path, headers=bearer(portal.access)).status_code == 200
    mine = browser.get("/me/licences", headers=bearer(portal.access)).json()
    assert {x["identifier"] for x in mine} == {world.guides[CITIZEN], world.business}
    left = browser.get("/me/consents", headers=bearer(portal.access)).json()["consents"]
    assert [c for c in left if c["client_id"] == bank_id] == []  # withdrawn by the loop
    assert shared(world, bank.access).status_code == 401


def test_a_third_party_cannot_ask_for_the_account_scope(world: World) -> None:
    label = TEXT["zh"][f"scope.{ACCOUNT_SCOPE}"]
    # the portal, registered for it, shows it to the person in words
    assert label in consent_page(world, "portal", OWN)
    # the bank, not registered for it, asks in vain: not on the page, not in the token
    sneaky = f"openid {ACCOUNT_SCOPE} {READ_GUIDE}"
    page = consent_page(world, "bank", sneaky, purpose=PURPOSE)
    assert label not in page and "导游证" in page
    client_id, _ = world.secrets["bank"]
    browser = world.browser()
    verifier, challenge = pkce_pair()
    params = authorize_params(client_id, challenge, scope=sneaky, purpose=PURPOSE)
    back = callback_params(login_and_consent(browser, params, username=CITIZEN))
    answer = world.redeem("bank", back["code"], verifier, browser)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()["scope"].split()) == {"openid", READ_GUIDE}
    token = answer.json()["access_token"]
    refused = browser.get("/me/licences", headers=bearer(token))
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert shared(world, token).status_code == 200


def test_the_wrong_type_scope_is_refused(world: World) -> None:
    tokens = world.tokens("bank", CITIZEN, f"openid {READ_GUIDE}", purpose=PURPOSE)
    refused = shared(world, tokens.access, BUSINESS_LICENCE)
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert refused.headers["content-type"] == "application/problem+json"
    assert shared(world, tokens.access, "not-a-type").status_code == 422
    assert accesses(world, CITIZEN) == []


def test_clients_without_consent_are_refused(world: World) -> None:
    landlord = world.tokens("landlord", CITIZEN, "openid profile")
    assert shared(world, landlord.access).status_code == 403
    assert shared(world, "not-a-token").status_code == 401
    no_token = world.browser().get(f"/shared-licences?type={TOUR_GUIDE_CARD}")
    assert no_token.status_code == 401
    department = world.service_token(query_scope(TOUR_GUIDE_CARD))
    assert shared(world, department).status_code == 403  # no person, no consent
    # a client not registered with the scope gets a token without it, which reads nothing
    unregistered = world.tokens("landlord", CITIZEN, f"openid {READ_GUIDE}", purpose=PURPOSE)
    assert shared(world, unregistered.access).status_code == 403
    assert accesses(world, CITIZEN) == []


def test_person_b_cannot_read_person_as_licences(world: World) -> None:
    tokens = world.tokens("bank", OTHER, f"openid {READ_GUIDE}", purpose=PURPOSE)
    read = shared(world, tokens.access)
    assert read.status_code == 200, read.text
    assert [x["identifier"] for x in read.json()["licences"]] == [world.guides[OTHER]]
    assert world.guides[CITIZEN] not in read.text
    assert accesses(world, CITIZEN) == []
    assert len(accesses(world, OTHER)) == 1


def test_a_representative_shares_the_organisations_licence(
    world: World, services: Services
) -> None:
    with services.sessions() as session:
        company_id = next(row.id for row in session.query(OrganisationRow) if row.uscc == COMPANY)
    tokens = world.tokens(
        "bank", CITIZEN, f"openid {READ_BUSINESS}", purpose="开立对公账户", acting_as=company_id
    )
    read = shared(world, tokens.access, BUSINESS_LICENCE)
    assert read.status_code == 200, read.text
    assert [x["identifier"] for x in read.json()["licences"]] == [world.business]
    [logged] = accesses(world, CITIZEN)  # the representative sees the company's log
    assert logged["licences"] == [world.business] and logged["purpose"] == "开立对公账户"


def test_a_department_query_is_recorded(world: World) -> None:
    token = world.service_token(query_scope(TOUR_GUIDE_CARD))
    browser = world.browser()
    body = {"type_code": TOUR_GUIDE_CARD, "holder_code": CITIZEN, "legal_basis": "治安管理核查"}
    answer = browser.post("/shared-licences/query", json=body, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert CITIZEN not in answer.text
    found = answer.json()
    assert (found["basis"], found["purpose"]) == ("legal_duty", "治安管理核查")
    assert [x["identifier"] for x in found["licences"]] == [world.guides[CITIZEN]]
    [logged] = accesses(world, CITIZEN)
    assert (logged["basis"], logged["purpose"], logged["client_name"]) == (
        "legal_duty",
        "治安管理核查",
        "公安",
    )
    entries = [e.event for e in audit_entries(world.services)]
    entries = [e for e in entries if e.action == "licence.shared"]
    assert [e.details["basis"] for e in entries] == ["legal_duty"]
    assert CITIZEN not in repr([e.details for e in entries])
    with world.services.sessions() as session:  # whose licences were asked for: by blind index
        [row] = session.scalars(select(LicenceAccessRow)).all()
    assert entries[0].details["holder_index"] == row.holder_code_index

    missing_basis = dict(body)
    del missing_basis["legal_basis"]
    no_basis = browser.post("/shared-licences/query", json=missing_basis, headers=bearer(token))
    assert no_basis.status_code == 422 and CITIZEN not in no_basis.text
    blank = browser.post(
        "/shared-licences/query", json=dict(body, legal_basis="  "), headers=bearer(token)
    )
    assert blank.status_code == 422
    with_id = browser.post(
        "/shared-licences/query",
        json=dict(body, legal_basis=f"核查{CITIZEN}"),
        headers=bearer(token),
    )
    assert with_id.status_code == 422 and CITIZEN not in with_id.text
    assert with_id.json()["type"].endswith("personal-data-in-text")
    bad_code = browser.post(
        "/shared-licences/query",
        json=dict(body, holder_code="110105194912310021"),
        headers=bearer(token),
    )
    assert bad_code.status_code == 422 and "110105194912310021" not in bad_code.text
    other_type = browser.post(
        "/shared-licences/query",
        json=dict(body, type_code=BUSINESS_LICENCE, holder_code=COMPANY),
        headers=bearer(token),
    )
    assert other_type.status_code == 403
    person = world.tokens("bank", CITIZEN, f"openid {READ_GUIDE}", purpose=PURPOSE)
    by_person = browser.post("/shared-licences/query", json=body, headers=bearer(person.access))
    assert by_person.status_code == 403
    assert len(accesses(world, CITIZEN)) == 1


def _bank_consent_and_grant(world: World) -> tuple[str, str, str]:
    """(consent id, grant id, person id) of the bank's one consent and grant."""
    bank_id, _ = world.secrets["bank"]
    with world.services.sessions() as session:
        consent = session.scalars(select(ConsentRow).where(ConsentRow.client_id == bank_id)).one()
        grant = session.scalars(select(GrantRow).where(GrantRow.client_id == bank_id)).one()
        return consent.id, grant.id, consent.person_id


def _live_bank_grants(world: World) -> list[str]:
    bank_id, _ = world.secrets["bank"]
    with world.services.sessions() as session:
        query = select(GrantRow.id).where(
            GrantRow.client_id == bank_id, GrantRow.revoked_at.is_(None)
        )
        return list(session.scalars(query))


def withdraw_while_held(
    world: World,
    consent_id: str,
    person_id: str,
    go_on: threading.Event,
    holder: threading.Thread,
) -> None:
    """Withdraw the consent while ``holder`` holds what it must wait for: the withdrawal
    waits, then, with ``go_on`` set, both end and the withdrawal succeeds."""
    withdrawer, withdrawn = in_thread(
        lambda: withdraw_consent(world.services.idp, consent_id, person_id=person_id, actor="h")
    )
    withdrawer.join(0.5)
    assert withdrawer.is_alive(), "the withdrawal did not wait"
    go_on.set()
    holder.join(15)
    withdrawer.join(15)
    assert withdrawn == [None], withdrawn


def test_giving_consent_is_audited(world: World) -> None:
    world.tokens("bank", CITIZEN, f"openid {READ_GUIDE}", purpose=PURPOSE)
    consent_id, _, _ = _bank_consent_and_grant(world)
    [given] = [
        e.event for e in audit_entries(world.services) if e.event.action == "consent.granted"
    ]
    assert given.object_id == consent_id
    assert given.details["client"] == world.secrets["bank"][0]
    assert (given.details["purpose"], given.details["organisation"]) == (PURPOSE, None)
    assert READ_GUIDE in given.details["scope"]


def test_a_withdrawal_just_before_the_grant_leaves_the_client_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank_id, _ = world.secrets["bank"]
    original = authorize._authorization_response

    def withdrawn_first(request, provider, current, principal):  # type: ignore[no-untyped-def]
        if principal is not None and current.client_id == bank_id:  # in another tab, say
            with world.services.sessions() as session:
                consent = session.scalars(
                    select(ConsentRow).where(ConsentRow.client_id == bank_id)
                ).one()
            withdraw_consent(provider, consent.id, person_id=consent.person_id, actor="holder")
        return original(request, provider, current, principal)

    monkeypatch.setattr(authorize, "_authorization_response", withdrawn_first)
    _, challenge = pkce_pair()
    params = authorize_params(bank_id, challenge, scope=f"openid {READ_GUIDE}", purpose=PURPOSE)
    back = callback_params(login_and_consent(world.browser(), params, username=CITIZEN))
    assert back.get("error") == "access_denied" and "code" not in back, back
    assert _live_bank_grants(world) == []


def test_a_withdrawal_while_the_grant_is_made_revokes_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank_id, _ = world.secrets["bank"]
    world.tokens("bank", CITIZEN, f"openid {READ_GUIDE}", purpose=PURPOSE)  # remembered now
    consent_id, _, person_id = _bank_consent_and_grant(world)
    holding, go_on = threading.Event(), threading.Event()
    original = authorize._covering_consent

    def held(session, current, *, hold=False):  # type: ignore[no-untyped-def]
        found = original(session, current, hold=hold)
        if hold and current.client_id == bank_id:
            holding.set()  # the grant's transaction holds the consent
            go_on.wait(10)
        return found

    monkeypatch.setattr(authorize, "_covering_consent", held)
    verifier, challenge = pkce_pair()
    params = authorize_params(bank_id, challenge, scope=f"openid {READ_GUIDE}", purpose=PURPOSE)
    browser = world.browser()
    answers: list[dict[str, str]] = []
    signed_in, outcome = in_thread(
        lambda: answers.append(
            callback_params(login_and_consent(browser, params, username=CITIZEN))
        )
    )
    assert holding.wait(10)
    withdraw_while_held(world, consent_id, person_id, go_on, signed_in)
    assert outcome == [None], outcome
    assert _live_bank_grants(world) == []  # the grant made meanwhile was revoked with the rest
    [back] = answers
    exchanged = world.redeem("bank", back["code"], verifier, browser)
    assert exchanged.status_code == 400 and exchanged.json()["error"] == "invalid_grant"


def test_a_withdrawal_during_a_read_waits_for_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = world.tokens("bank", CITIZEN, f"openid {READ_GUIDE}", purpose=PURPOSE)
    consent_id, _, person_id = _bank_consent_and_grant(world)
    reading, go_on = threading.Event(), threading.Event()
    original = LicenceSharing._current

    def slow(self, session, index, type_code):  # type: ignore[no-untyped-def]
        reading.set()  # the grant was read
        go_on.wait(10)
        return original(self, session, index, type_code)

    monkeypatch.setattr(LicenceSharing, "_current", slow)
    reader, read = in_thread(lambda: shared(world, bank.access))
    assert reading.wait(10)
    withdraw_while_held(world, consent_id, person_id, go_on, reader)
    assert read == [None], read
    actions = [
        e.event.action
        for e in audit_entries(world.services)
        if e.event.action in ("consent.withdrawn", "licence.shared")
    ]
    assert actions == ["licence.shared", "consent.withdrawn"]  # the read, then the withdrawal
    monkeypatch.setattr(LicenceSharing, "_current", original)
    assert shared(world, bank.access).status_code == 401


def test_the_legal_representative_sees_and_withdraws_an_agents_consent(
    world: World, services: Services
) -> None:
    with services.sessions() as session:
        company = next(row for row in session.query(OrganisationRow) if row.uscc == COMPANY)
        people = {row.name: row.id for row in session.query(PersonRow)}
    ids = IdentityService(
        services.sessions, services.identifiers, services.audit, services.keys.clock
    )
    ids.grant_agent(company.id, people["李四"], ["licence:read"], None, granted_by=people["张三"])
    bank = world.tokens(
        "bank", OTHER, f"openid {READ_BUSINESS}", purpose="开立对公账户", acting_as=company.id
    )
    assert shared(world, bank.access, BUSINESS_LICENCE).status_code == 200
    browser = world.browser()
    legal = world.tokens("portal", CITIZEN, OWN)
    listed = browser.get("/me/consents", headers=bearer(legal.access)).json()["consents"]
    [agents] = [c for c in listed if c["client_id"] == world.secrets["bank"][0]]
    assert agents["organisation_id"] == company.id and agents["purpose"] == "开立对公账户"
    stranger = world.tokens("portal", "350102198503150022", OWN)  # represents nobody
    refused = browser.post(f"/me/consents/{agents['id']}/withdraw", headers=bearer(stranger.access))
    assert refused.status_code == 404
    withdrawn = browser.post(f"/me/consents/{agents['id']}/withdraw", headers=bearer(legal.access))
    assert withdrawn.status_code == 200, withdrawn.text
    assert shared(world, bank.access, BUSINESS_LICENCE).status_code == 401


def test_a_purpose_holding_an_id_number_glued_to_a_full_width_letter_is_refused(
    world: World,
) -> None:
    client_id, _ = world.secrets["bank"]
    _, challenge = pkce_pair()
    params = authorize_params(
        client_id, challenge, scope=f"openid {READ_GUIDE}", purpose=f"核验{OTHER}ａ"
    )
    answer = world.browser().get(f"/authorize?{urlencode(params)}", follow_redirects=False)
    back = callback_params(answer)
    assert back["error"] == "invalid_request"
    assert "ID number" in back["error_description"] and OTHER not in answer.text


def test_without_offline_access_there_is_no_refresh_token(world: World) -> None:
    page = consent_page(world, "bank", f"openid {READ_GUIDE}", purpose=PURPOSE)
    assert TEXT["zh"]["scope.offline_access"] not in page  # nothing said of later reads
    once = world.tokens("bank", CITIZEN, f"openid {READ_GUIDE}", purpose=PURPOSE)
    assert once.refresh is None  # OpenID Connect Core §11: the access ends with the token
    assert shared(world, once.access).status_code == 200
