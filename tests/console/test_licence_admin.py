"""Licence administration: search by number or holder code (the code never in a URL), view
one licence, and suspend / resume / revoke it with a reason after a confirmation screen."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

from certs.service import LicenceService
from core.audit.entry import parse_entry
from tests.console.conftest import Demo, assert_control_characters_refused, csrf_of, log_in


def _licences(demo: Demo) -> LicenceService:
    services = demo.services
    return LicenceService(
        services.sessions, services.identifiers, services.audit, services.keys.clock
    )


def _search(browser: TestClient, by: str, value: str) -> httpx.Response:
    page = browser.get("/console/admin/licences")
    assert page.status_code == 200
    posted = browser.post(
        "/console/admin/licences/search",
        data={"csrf": csrf_of(page.text), "by": by, "value": value},
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text[:300]
    assert value not in posted.headers["location"]
    assert re.fullmatch(r"/console/admin/licences\?search=[0-9a-f]{16}", posted.headers["location"])
    return browser.get(posted.headers["location"])


def test_the_administrator_sees_the_administration_pages(demo: Demo, browser: TestClient) -> None:
    home = log_in(browser, demo, "admin")
    assert "福州市市场监督管理局" in home.text
    assert 'href="/console/admin/licences"' in home.text


def test_search_by_holder_code_in_a_form_never_a_url(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    holder_code = demo.user("citizen")["id_number"]
    results = _search(browser, "holder", holder_code)
    assert "导游证" in results.text
    assert holder_code not in results.text  # masked in the results
    assert holder_code not in str(results.url)
    with demo.services.sessions() as session:
        entries = [parse_entry(s.entry) for s in demo.services.audit.store.entries(session)]
    searched = [e for e in entries if e.event.action == "licence.searched"]
    assert searched and searched[-1].event.details["criterion"] == "holder_code"
    assert holder_code not in str(searched[-1].event.details)


def test_search_by_number_and_an_invalid_holder_code(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    business = _licences(demo).get(demo.licence("business_licence"))
    results = _search(browser, "number", business.licence_number)
    assert business.identifier in results.text
    nothing = _search(browser, "number", "NO-SUCH-NUMBER")
    assert "没有找到符合条件的证照" in nothing.text
    page = browser.get("/console/admin/licences")
    invalid = browser.post(
        "/console/admin/licences/search",
        data={"csrf": csrf_of(page.text), "by": "holder", "value": "110105194912310021"},
    )
    assert invalid.status_code == 422
    assert "110105194912310021" not in invalid.text


def test_a_search_or_a_reason_with_a_control_character_is_refused(
    demo: Demo, browser: TestClient
) -> None:
    """A NUL in a licence number searched for was a 500 on PostgreSQL."""
    log_in(browser, demo, "admin")
    page = browser.get("/console/admin/licences")
    for by in ("number", "holder"):
        refused = browser.post(
            "/console/admin/licences/search",
            data={"csrf": csrf_of(page.text), "by": by, "value": "闽导\x00字"},
        )
        assert_control_characters_refused(refused)
    guide = demo.licence("tour_guide_card")
    refused = browser.post(
        f"/console/admin/licences/{guide}/suspend",
        data={"csrf": csrf_of(page.text), "reason": "暂停\x00", "step": "confirm"},
    )
    assert_control_characters_refused(refused)
    assert _licences(demo).get(guide).state.value == "valid"
    two_lines = browser.post(  # a reason is typed in a textarea: line breaks are text
        f"/console/admin/licences/{guide}/suspend",
        data={"csrf": csrf_of(page.text), "reason": "暂停\r\n待核查"},
    )
    assert two_lines.status_code == 200


def test_results_of_another_session_or_an_old_search_are_not_shown(
    demo: Demo, browser: TestClient
) -> None:
    log_in(browser, demo, "admin")
    results = _search(browser, "holder", demo.user("citizen")["id_number"])
    url = str(results.url)
    other = TestClient(browser.app, base_url="https://govtrust.test")
    log_in(other, demo, "admin")
    foreign = other.get(url)
    assert foreign.status_code == 200 and "查询结果已过期" in foreign.text
    assert "导游证" not in foreign.text.split("查询结果已过期")[1]


def test_suspend_with_a_reason_after_a_confirmation_screen(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    guide = demo.licence("tour_guide_card")
    view = browser.get(f"/console/admin/licences/{guide}")
    assert view.status_code == 200
    assert f'href="/console/admin/licences/{guide}/suspend"' in view.text
    assert f'href="/console/admin/licences/{guide}/resume"' not in view.text  # not suspended
    form = browser.get(f"/console/admin/licences/{guide}/suspend")
    assert form.status_code == 200 and 'name="reason"' in form.text
    review = browser.post(
        f"/console/admin/licences/{guide}/suspend",
        data={"csrf": csrf_of(form.text), "reason": "  违规带团，暂扣三十日  ", "step": "review"},
    )
    assert review.status_code == 200
    assert "确认暂扣" in review.text
    assert re.search(r'data-testid="new-state"><span class="state state-suspended">', review.text)
    assert 'data-testid="new-reason">违规带团，暂扣三十日<' in review.text
    assert _licences(demo).get(guide).state.value == "valid"  # nothing changed yet
    done = browser.post(
        f"/console/admin/licences/{guide}/suspend",
        data={"csrf": csrf_of(review.text), "reason": "违规带团，暂扣三十日", "step": "confirm"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/admin/licences/{guide}?done=suspend"
    licence = _licences(demo).get(guide)
    assert licence.state.value == "suspended"
    assert licence.state_reason == "违规带团，暂扣三十日"
    after = browser.get(done.headers["location"])
    assert "证照已暂扣" in after.text
    assert f'href="/console/admin/licences/{guide}/resume"' in after.text
    assert demo.user("admin")["subject"] in after.text  # the history names the actor


def test_a_reason_is_required_and_may_not_hold_an_id_number(
    demo: Demo, browser: TestClient
) -> None:
    log_in(browser, demo, "admin")
    guide = demo.licence("tour_guide_card")
    form = browser.get(f"/console/admin/licences/{guide}/revoke")
    for reason in ("", "   ", "x" * 201, "持证人 11010519491231002X 申请"):
        refused = browser.post(
            f"/console/admin/licences/{guide}/revoke",
            data={"csrf": csrf_of(form.text), "reason": reason, "step": "confirm"},
        )
        assert refused.status_code in (400, 422), reason
        assert "11010519491231002X" not in refused.text
    assert _licences(demo).get(guide).state.value == "valid"


def test_resume_and_revoke_and_what_is_not_allowed(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    guide = demo.licence("tour_guide_card")
    page = browser.get(f"/console/admin/licences/{guide}")
    not_allowed = browser.get(f"/console/admin/licences/{guide}/resume")
    assert not_allowed.status_code == 409
    for action, state in (("suspend", "suspended"), ("resume", "valid"), ("revoke", "revoked")):
        done = browser.post(
            f"/console/admin/licences/{guide}/{action}",
            data={"csrf": csrf_of(page.text), "reason": f"测试{action}", "step": "confirm"},
            follow_redirects=False,
        )
        assert done.status_code == 303, (action, done.text[:300])
        assert _licences(demo).get(guide).state.value == state
    final = browser.get(f"/console/admin/licences/{guide}")
    assert "/suspend" not in final.text and '/revoke"' not in final.text
    again = browser.post(
        f"/console/admin/licences/{guide}/revoke",
        data={"csrf": csrf_of(page.text), "reason": "again", "step": "confirm"},
    )
    assert again.status_code == 409


def test_admin_lists_paginate_on_the_server(demo: Demo, browser: TestClient) -> None:
    from certs.demo import AUTHORITY, BUSINESS_FIELDS
    from certs.demo_types import BUSINESS_LICENCE
    from certs.lifecycle import china_date

    licences = _licences(demo)
    company = demo.data["idp"]["organisation"]["uscc"]
    for _ in range(11):  # 12 business licences of the same company in all
        licences.issue(
            BUSINESS_LICENCE,
            AUTHORITY["uscc"],
            AUTHORITY["name"],
            BUSINESS_FIELDS["name"],
            company,
            BUSINESS_FIELDS,
            china_date(licences.clock()),
            "test",
        )
    log_in(browser, demo, "admin")
    first = _search(browser, "holder", company)
    assert "共 12 条" in first.text
    assert first.text.count('<a href="/console/admin/licences/1.2.156') == 10
    assert "第 1 / 2 页" in first.text
    second = re.search(r'href="([^"]+page=2)" rel="next"', first.text)
    assert second
    page_two = browser.get(second.group(1).replace("&amp;", "&"))
    assert page_two.text.count('<a href="/console/admin/licences/1.2.156') == 2
    assert company not in str(page_two.url)  # a USCC is shown (not personal data), never in a URL
