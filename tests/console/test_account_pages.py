"""A person's own pages: profile with the ID number masked, sessions and devices (end any),
consents (withdraw any), organisations they act for; nobody else's."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from core.app import create_app
from tests.console.conftest import ORIGIN, Demo, csrf_of, log_in

CLEAR_ID = "11010519491231002X"


def test_the_profile_shows_the_id_number_masked_only(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "citizen")
    page = browser.get("/console/profile")
    assert page.status_code == 200
    masked = re.search(r'data-testid="id-number">([^<]+)<', page.text)
    assert masked and "*" in masked.group(1)
    assert masked.group(1)[:1] == CLEAR_ID[0] and masked.group(1)[-1] == CLEAR_ID[-1]
    for path in (
        "/console/",
        "/console/profile",
        "/console/sessions",
        "/console/consents",
        "/console/organisations",
        "/console/licences",
    ):
        assert CLEAR_ID not in browser.get(path).text, path
        assert "13800138000" not in browser.get(path).text, path


def test_sessions_list_and_end_another_device(demo: Demo, browser: TestClient) -> None:
    phone = TestClient(create_app(services=demo.services), base_url=ORIGIN)
    log_in(phone, demo, "citizen")  # another device, another SSO session
    log_in(browser, demo, "citizen")
    page = browser.get("/console/sessions")
    assert page.status_code == 200
    assert "（当前会话）" in page.text
    ends = re.findall(r'action="(/console/sessions/([^"/]+)/end)"', page.text)
    assert len(ends) == 2
    # end the session that is not this one: the phone is logged out, this browser is not
    current = _current_session_id(page.text)
    other = next(action for action, public_id in ends if public_id != current)
    done = browser.post(other, data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/console/sessions?done=ended"
    assert "会话已结束" in browser.get(done.headers["location"]).text
    assert phone.get("/console/profile", follow_redirects=False).status_code == 303
    assert browser.get("/console/profile", follow_redirects=False).status_code == 200


def _current_session_id(html: str) -> str:
    row = next(r for r in html.split("<tr>") if "（当前会话）" in r)
    found = re.search(r"/console/sessions/([^\"/]+)/end", row)
    assert found
    return found.group(1)


def test_another_persons_session_cannot_be_ended(demo: Demo, browser: TestClient) -> None:
    agent = TestClient(create_app(services=demo.services), base_url=ORIGIN)
    log_in(agent, demo, "agent")
    theirs = _current_session_id(agent.get("/console/sessions").text)
    log_in(browser, demo, "citizen")
    page = browser.get("/console/sessions")
    refused = browser.post(
        f"/console/sessions/{theirs}/end",
        data={"csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert refused.status_code == 404
    assert agent.get("/console/profile", follow_redirects=False).status_code == 200


def test_consents_list_and_withdraw(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "citizen")
    page = browser.get("/console/consents")
    assert page.status_code == 200
    assert "政务服务管理控制台" in page.text  # the console's own consent, from this login
    action = re.search(r'action="(/console/consents/[^"]+/withdraw)"', page.text)
    assert action
    done = browser.post(action.group(1), data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303
    # withdrawing the console's own consent revokes its grant: log in again
    again = browser.get(done.headers["location"], follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/console/login")


def test_the_organisations_a_person_acts_for(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "citizen")
    page = browser.get("/console/organisations")
    assert "福州示例科技有限公司" in page.text
    assert "91350100M000100Y43" in page.text
    assert "法定代表人" in page.text
    other = TestClient(create_app(services=demo.services), base_url=ORIGIN)
    log_in(other, demo, "agent")
    assert "您目前不代表任何单位" in other.get("/console/organisations").text


def test_acting_for_an_organisation_is_shown(demo: Demo, browser: TestClient) -> None:
    home = log_in(browser, demo, "citizen", acting_as="organisation")
    assert "代表单位: 福州示例科技有限公司" in home.text
    profile = browser.get("/console/profile")
    assert "福州示例科技有限公司" in profile.text
