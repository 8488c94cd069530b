"""A legal representative's agents: list them (names, masked ID numbers, rights, period),
authorise a person named by ID number after a confirmation screen, withdraw an agent with a
reason after a confirmation screen; nobody else sees or changes them, an agent of another
organisation is "not found", and the ID number is only ever posted."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from certs.demo import AUTHORITY, CIVIL_SERVANT
from console import agents as console_agents
from console.agents import agents_of
from console.pages import CHINA
from console.platform_data import search_audit
from core.app import create_app
from idp.admin import agents as agent_admin
from idp.demo import AGENT, COMPANY
from tests.console.conftest import (
    ORIGIN,
    Demo,
    assert_control_characters_refused,
    log_in,
    post_form,
)


def _organisation_id(demo: Demo, uscc: str) -> str:
    with demo.services.sessions() as session:
        found = demo.services.idp.identities.organisation_by_uscc(session, uscc)
    assert found is not None
    return found.id


def _person_id(demo: Demo, id_number: str) -> str:
    with demo.services.sessions() as session:
        found = demo.services.idp.identities.person_by_id_number(
            session, demo.services.identifiers, id_number
        )
    assert found is not None
    return found.id


def _acts_for(demo: Demo, id_number: str) -> list[str]:
    options = agent_admin.acting_options(demo.services.idp, _person_id(demo, id_number))
    return [o.organisation.id for o in options]


def _until(demo: Demo, days: int = 30) -> str:
    return (demo.services.idp.ctx.clock().astimezone(CHINA).date() + timedelta(days)).isoformat()


def _no_id_number_in(response: httpx.Response, clear: str) -> None:
    assert clear not in str(response.url)
    assert clear not in response.headers.get("location", "")
    assert clear not in response.text


def test_a_legal_representative_authorises_an_agent(demo: Demo, browser: TestClient) -> None:
    company = _organisation_id(demo, COMPANY["uscc"])
    log_in(browser, demo, "citizen")
    organisations = browser.get("/console/organisations")
    assert f'href="/console/organisations/{company}/agents"' in organisations.text
    page = browser.get(f"/console/organisations/{company}/agents")
    assert page.status_code == 200
    assert "本单位还没有代办人" in page.text
    assert 'name="scopes" value="licence:read"' in page.text
    assert 'name="scopes" value="seal:use"' in page.text

    action = f"/console/organisations/{company}/agents"
    review = post_form(
        browser,
        page,
        action,
        step="review",
        id_number=" 3501 0219 8001 0100 11 ",  # as people type it
        scopes="licence:read",
        valid_until=_until(demo),
    )
    assert review.status_code == 200
    _no_id_number_in(review, AGENT["id_number"])
    assert re.search(r'data-testid="new-agent">李四<', review.text)
    masked = re.search(r'data-testid="new-agent-id-number">([^<]+)<', review.text)
    assert masked and "*" in masked.group(1)
    assert "查看本单位证照" in review.text
    assert 'name="pending"' in review.text and 'name="id_number"' not in review.text
    assert company not in _acts_for(demo, AGENT["id_number"])  # nothing changed yet

    done = _confirm(browser, action, review)
    assert done.status_code == 303
    assert done.headers["location"] == f"{action}?done=granted"
    assert company in _acts_for(demo, AGENT["id_number"])
    listed = browser.get(done.headers["location"])
    assert "代办授权已生效" in listed.text
    row = re.search(r'data-testid="agent-id-number">([^<]+)<', listed.text)
    assert row and row.group(1) == masked.group(1)
    _no_id_number_in(listed, AGENT["id_number"])
    granted = search_audit(demo.services, "agent.granted", None, None, 5, 0)
    assert granted and granted[0].details["scopes"] == ["licence:read"]


def _confirm(browser: TestClient, action: str, review: httpx.Response) -> httpx.Response:
    """Confirm the grant the review page shows (it names it by a random id only)."""
    pending = re.search(r'name="pending" value="([0-9a-f]{32})"', review.text)
    assert pending, review.text[:500]
    return post_form(browser, review, action, step="confirm", pending=pending.group(1))


def _review(
    browser: TestClient, demo: Demo, page: httpx.Response, action: str, who: str = "agent"
) -> httpx.Response:
    return post_form(
        browser,
        page,
        action,
        step="review",
        id_number=demo.user(who)["id_number"],
        scopes="licence:read",
        valid_until=_until(demo),
    )


def test_a_grant_confirmed_twice_is_made_once(demo: Demo, browser: TestClient) -> None:
    """The confirmation sent twice (a double click, the form sent again) made two agents of
    one person, and a withdrawal left the other: the grant awaiting confirmation is used up
    by the first, and the second is told so."""
    company = _organisation_id(demo, COMPANY["uscc"])
    log_in(browser, demo, "citizen")
    action = f"/console/organisations/{company}/agents"
    review = _review(browser, demo, browser.get(action), action)
    assert _confirm(browser, action, review).status_code == 303
    again = _confirm(browser, action, review)
    assert again.status_code == 409 and "该授权已确认或确认已过期" in again.text
    listed = browser.get(action)
    withdraw = re.findall(rf'href="({action}/[^"/]+/withdraw)"', listed.text)
    assert len(withdraw) == 1
    done = post_form(browser, listed, withdraw[0], step="confirm", reason="离职")
    assert done.status_code == 303
    assert company not in _acts_for(demo, AGENT["id_number"])


def test_a_valid_agent_is_not_authorised_again(demo: Demo, browser: TestClient) -> None:
    """A second authorisation would outlive the withdrawal of the first: refused on review,
    and on a confirmation whose review came before the person became an agent."""
    company = _organisation_id(demo, COMPANY["uscc"])
    log_in(browser, demo, "citizen")
    action = f"/console/organisations/{company}/agents"
    page = browser.get(action)
    first, second = _review(browser, demo, page, action), _review(browser, demo, page, action)
    assert _confirm(browser, action, first).status_code == 303
    late = _confirm(browser, action, second)
    assert late.status_code == 409 and "此人已是本单位的代办人" in late.text
    again = _review(browser, demo, page, action)
    assert again.status_code == 409 and "此人已是本单位的代办人" in again.text
    _no_id_number_in(again, AGENT["id_number"])
    valid = [a.name for a in agents_of(demo.services, company) if a.state == "valid"]
    assert valid == [AGENT["name"]]
    other = _review(browser, demo, page, action, "approver")  # someone else: as before
    assert other.status_code == 200 and 'name="pending"' in other.text


def test_looking_up_an_agent_is_audited_and_limited(
    demo: Demo, browser: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The review shows the real name of whoever the ID number belongs to: each look-up is
    in the audit trail (the ids found, never the number), and a legal representative may
    make only so many of them an hour."""
    monkeypatch.setattr(console_agents, "LOOKUP_LIMIT", 3)
    company = _organisation_id(demo, COMPANY["uscc"])
    log_in(browser, demo, "citizen")
    action = f"/console/organisations/{company}/agents"
    page = browser.get(action)
    found = _review(browser, demo, page, action, "approver")
    assert found.status_code == 200 and 'data-testid="new-agent">陈静<' in found.text
    nobody = post_form(
        browser,
        page,
        action,
        step="review",
        id_number="440305199001010050",  # registered by nobody
        scopes="licence:read",
        valid_until=_until(demo),
    )
    assert nobody.status_code == 422
    searched = search_audit(demo.services, "person.searched", None, None, 10, 0)
    assert [(e.object_id, e.details["found"]) for e in searched] == [
        ("-", []),
        (_person_id(demo, demo.user("approver")["id_number"]), [searched[1].object_id]),
    ]
    for entry in searched:
        assert entry.actor == demo.user("citizen")["subject"]
        assert entry.details["for"] == "agent.granted" and entry.details["organisation"] == company
        assert "440305199001010050" not in str(entry.details)
        assert demo.user("approver")["id_number"] not in str(entry.details)
    assert _review(browser, demo, page, action).status_code == 200  # the third
    refused = _review(browser, demo, page, action, "approver")
    assert refused.status_code == 429 and "查找人员的次数过多" in refused.text
    assert "陈静" not in refused.text
    assert len(search_audit(demo.services, "person.searched", None, None, 10, 0)) == 3


def _grant(demo: Demo) -> tuple[str, str]:
    company = _organisation_id(demo, COMPANY["uscc"])
    with demo.services.sessions() as session:
        citizen = demo.services.idp.identities.person_by_subject(
            session, demo.user("citizen")["subject"]
        )
    assert citizen is not None
    agent = agent_admin.grant_agent(
        demo.services.idp,
        company,
        person_id=citizen.id,
        agent_subject=demo.user("agent")["subject"],
        scopes=["seal:use"],
        valid_until=None,
    )
    return company, agent.representation.id


def test_withdrawing_an_agent_asks_a_reason_and_a_confirmation(
    demo: Demo, browser: TestClient
) -> None:
    company, representation = _grant(demo)
    log_in(browser, demo, "citizen")
    listed = browser.get(f"/console/organisations/{company}/agents")
    withdraw = f"/console/organisations/{company}/agents/{representation}/withdraw"
    assert f'href="{withdraw}"' in listed.text
    form = browser.get(withdraw)
    assert form.status_code == 200 and 'name="reason"' in form.text
    assert "使用本单位印章" in form.text
    no_reason = post_form(browser, form, withdraw, step="review", reason=" ")
    assert no_reason.status_code == 422
    confirm = post_form(browser, form, withdraw, step="review", reason="离职")
    assert confirm.status_code == 200
    assert re.search(r'data-testid="new-state">已撤回<', confirm.text)
    assert company in _acts_for(demo, AGENT["id_number"])  # nothing changed yet
    done = post_form(browser, confirm, withdraw, step="confirm", reason="离职")
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/organisations/{company}/agents?done=withdrawn"
    assert company not in _acts_for(demo, AGENT["id_number"])
    after = browser.get(done.headers["location"])
    assert "代办授权已撤回" in after.text and "已撤回" in after.text
    assert f'href="{withdraw}"' not in after.text
    assert browser.get(withdraw).status_code == 404  # withdrawn: nothing left to withdraw
    revoked = search_audit(demo.services, "agent.revoked", None, representation, 5, 0)
    reason = search_audit(demo.services, "console.reason", None, representation, 5, 0)
    assert revoked and reason and reason[0].details["reason"] == "离职"


def test_someone_not_the_legal_representative_gets_404(demo: Demo, browser: TestClient) -> None:
    company, representation = _grant(demo)  # the agent acts for the company, as an agent
    log_in(browser, demo, "agent")
    organisations = browser.get("/console/organisations")
    assert "福州示例科技有限公司" in organisations.text
    assert f"/console/organisations/{company}/agents" not in organisations.text
    page = browser.get(f"/console/organisations/{company}/agents")
    assert page.status_code == 404
    home = browser.get("/console/profile")
    refused = post_form(
        browser,
        home,
        f"/console/organisations/{company}/agents",
        step="review",
        id_number=AGENT["id_number"],
        scopes="licence:read",
        valid_until=_until(demo),
    )
    assert refused.status_code == 404
    withdraw = f"/console/organisations/{company}/agents/{representation}/withdraw"
    assert browser.get(withdraw).status_code == 404
    refused = post_form(browser, home, withdraw, step="confirm", reason="不想干了")
    assert refused.status_code == 404
    assert company in _acts_for(demo, AGENT["id_number"])


def test_another_organisations_agent_is_not_found(demo: Demo, browser: TestClient) -> None:
    company = _organisation_id(demo, COMPANY["uscc"])
    authority = _organisation_id(demo, AUTHORITY["uscc"])
    theirs = agent_admin.grant_agent(
        demo.services.idp,
        authority,
        person_id=_person_id(demo, CIVIL_SERVANT["id_number"]),
        agent_subject=demo.user("agent")["subject"],
        scopes=["licence:read"],
        valid_until=None,
    ).representation.id
    log_in(browser, demo, "citizen")
    home = browser.get("/console/profile")
    for org in (company, authority):
        withdraw = f"/console/organisations/{org}/agents/{theirs}/withdraw"
        assert browser.get(withdraw).status_code == 404
        for step in ("review", "confirm"):
            refused = post_form(browser, home, withdraw, step=step, reason="越权")
            assert refused.status_code == 404
    assert browser.get(f"/console/organisations/{authority}/agents").status_code == 404
    assert authority in _acts_for(demo, AGENT["id_number"])


def test_a_grant_is_refused_with_its_reason(demo: Demo, browser: TestClient) -> None:
    company = _organisation_id(demo, COMPANY["uscc"])
    log_in(browser, demo, "citizen")
    action = f"/console/organisations/{company}/agents"
    page = browser.get(action)
    cases = [
        ({"id_number": "110105194912310021", "scopes": "licence:read"}, "找不到"),  # bad check
        ({"id_number": AGENT["id_number"]}, "至少选择一项"),
        ({"id_number": AGENT["id_number"], "scopes": "*"}, "至少选择一项"),
        (
            {
                "id_number": AGENT["id_number"],
                "scopes": "licence:read",
                "valid_until": "2020-01-01",
            },
            "不得早于",
        ),
    ]
    for data, error in cases:
        sent = {"step": "review", "valid_until": _until(demo), **data}
        refused = post_form(browser, page, action, **sent)
        assert refused.status_code == 422, data
        assert error in refused.text
        assert 'role="alert"' in refused.text
        _no_id_number_in(refused, AGENT["id_number"])
    confirm = post_form(browser, page, action, step="confirm", pending="0" * 32)
    assert confirm.status_code == 409  # nothing awaiting confirmation under that id
    assert company not in _acts_for(demo, AGENT["id_number"])


def test_an_id_number_or_reason_with_a_control_character_is_refused(
    demo: Demo, browser: TestClient
) -> None:
    company, representation = _grant(demo)
    log_in(browser, demo, "citizen")
    action = f"/console/organisations/{company}/agents"
    page = browser.get(action)
    refused = post_form(
        browser,
        page,
        action,
        step="review",
        id_number=demo.user("approver")["id_number"] + "\x00",
        scopes="licence:read",
        valid_until=_until(demo),
    )
    assert_control_characters_refused(refused)
    assert not search_audit(demo.services, "person.searched", None, None, 5, 0)
    withdraw = f"{action}/{representation}/withdraw"
    refused = post_form(browser, page, withdraw, step="confirm", reason="离\x00职")
    assert_control_characters_refused(refused)
    assert company in _acts_for(demo, AGENT["id_number"])


def test_agent_forms_need_the_csrf_token(demo: Demo, browser: TestClient) -> None:
    company, representation = _grant(demo)
    log_in(browser, demo, "citizen")
    withdraw = f"/console/organisations/{company}/agents/{representation}/withdraw"
    refused = browser.post(
        withdraw, data={"step": "confirm", "reason": "离职"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert company in _acts_for(demo, AGENT["id_number"])


def test_agent_pages_in_english(demo: Demo, browser: TestClient) -> None:
    company = _organisation_id(demo, COMPANY["uscc"])
    log_in(browser, demo, "citizen")
    page = browser.get(f"/console/organisations/{company}/agents?lang=en")
    assert '<html lang="en">' in page.text and "Authorise an agent" in page.text
    other = TestClient(create_app(services=demo.services), base_url=ORIGIN)
    assert (
        other.get(f"/console/organisations/{company}/agents", follow_redirects=False).status_code
        == 303
    )
