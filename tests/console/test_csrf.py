"""Every console form carries the session's CSRF token; a POST without it, with another
session's, or from another origin is refused and changes nothing."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from core.services import Services
from idp.admin import sessions as session_admin
from tests.console.conftest import Demo, csrf_of, log_in


def _active_sessions(services: Services, demo: Demo) -> int:
    from idp.identities.storage import SqlIdentityStore

    with services.sessions() as session:
        person = SqlIdentityStore().person_by_subject(session, demo.user("citizen")["subject"])
    assert person is not None
    return sum(1 for s in session_admin.sessions_of_person(services.idp, person.id) if s.active)


def _end_action(html: str) -> str:
    match = re.search(r'action="(/console/sessions/[^"]+/end)"', html)
    assert match, html[:2000]
    return match.group(1)


def test_every_form_carries_the_session_token(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "citizen")
    for path in ("/console/", "/console/sessions", "/console/consents"):
        html = browser.get(path).text
        forms = html.count("<form ")
        assert forms >= 1
        assert html.count('name="csrf"') == forms, path


def test_a_post_without_the_token_is_refused(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "citizen")
    page = browser.get("/console/sessions")
    before = _active_sessions(demo.services, demo)
    refused = browser.post(_end_action(page.text), data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert "表单已失效" in refused.text
    wrong = browser.post(_end_action(page.text), data={"csrf": "x" * 43}, follow_redirects=False)
    assert wrong.status_code == 403
    assert _active_sessions(demo.services, demo) == before


def test_a_post_from_another_origin_is_refused(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "citizen")
    page = browser.get("/console/sessions")
    refused = browser.post(
        _end_action(page.text),
        data={"csrf": csrf_of(page.text)},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert refused.status_code == 403


def test_another_sessions_token_does_not_work(
    demo: Demo, browser: TestClient, services: Services
) -> None:
    from core.app import create_app

    log_in(browser, demo, "citizen")
    other = TestClient(create_app(services=services), base_url="https://govtrust.test")
    log_in(other, demo, "citizen")
    theirs = csrf_of(other.get("/console/sessions").text)
    page = browser.get("/console/sessions")
    assert csrf_of(page.text) != theirs
    refused = browser.post(_end_action(page.text), data={"csrf": theirs}, follow_redirects=False)
    assert refused.status_code == 403


def test_logout_needs_the_token_too(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "citizen")
    refused = browser.post("/console/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert browser.get("/console/profile", follow_redirects=False).status_code == 200
