"""The console in a real browser: a citizen logs in through the provider, sees the masked ID
number, opens a licence and its dynamic QR (the countdown runs); a licence administrator
suspends a licence with a reason; axe-core finds no serious or critical violation; and a
citizen cannot open an administrator's page (403) nor another person's licence (404)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from certs.demo import AUTHORITY, GUIDE_FIELDS
from certs.demo_types import TOUR_GUIDE_CARD
from certs.lifecycle import china_date
from certs.service import LicenceService
from tests.e2e.conftest import LiveServer, log_in, run_axe, screenshot

pytestmark = pytest.mark.slow


def test_a_citizen_sees_the_masked_id_and_shows_a_licence(
    live_server: LiveServer, page: Any
) -> None:
    log_in(page, live_server, "citizen")
    assert page.locator("h1").inner_text() == "您好，张三"
    assert page.locator("html").get_attribute("lang") == "zh-CN"

    page.click("nav.main-nav >> text=个人信息")
    masked = page.locator("[data-testid=id-number]").inner_text()
    clear = live_server.user("citizen")["id_number"]
    assert "*" in masked and masked != clear
    assert clear not in page.content()
    screenshot(page, "citizen-profile")

    page.click("nav.main-nav >> text=我的证照")
    page.click("text=导游证")
    assert page.locator("h1").inner_text() == "导游证"
    assert page.locator(".state-valid").first.is_visible()
    screenshot(page, "citizen-licence")

    page.click("text=亮证（显示动态二维码）")
    assert page.locator("#qr-image").is_visible()
    first = page.locator("#qr-remaining").inner_text()
    assert re.fullmatch(r"\d+:\d\d", first)
    page.wait_for_function(
        "start => document.getElementById('qr-remaining').textContent !== start", arg=first
    )  # the countdown runs
    assert page.locator("#qr-fullscreen").is_visible()  # offered where the browser can
    screenshot(page, "citizen-dynamic-qr")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.reload()
    box = page.locator("#qr-image").bounding_box()
    assert box is not None and box["width"] <= 390
    screenshot(page, "citizen-dynamic-qr-phone")


def test_the_countdown_ends_with_an_expired_notice(live_server: LiveServer, page: Any) -> None:
    log_in(page, live_server, "citizen")
    guide = live_server.licence("tour_guide_card")
    page.clock.install()  # the page's timers and Date, under the test's control
    page.goto(f"{live_server.url}/console/licences/{guide}/qr")
    seconds = int(page.locator("#qr-show").get_attribute("data-seconds") or "0")
    assert seconds > 0
    assert page.locator("#qr-expired").is_hidden()
    page.clock.run_for((seconds + 2) * 1000)
    assert page.locator("#qr-remaining").inner_text() == "0:00"
    assert page.locator("#qr-expired").is_visible()
    assert page.locator("#qr-refresh").is_visible()
    screenshot(page, "citizen-dynamic-qr-expired")


def test_an_administrator_suspends_a_licence_with_a_reason(
    live_server: LiveServer, page: Any
) -> None:
    log_in(page, live_server, "admin")
    page.click("nav.main-nav >> text=证照管理")
    page.check("input[name=by][value=holder]")
    page.fill("#value", live_server.user("citizen")["id_number"])
    page.click("form.search button[type=submit]")
    page.wait_for_load_state()
    assert "search=" in page.url, page.content()[:3000]
    assert live_server.user("citizen")["id_number"] not in page.url
    page.click("table >> a")
    page.click("a.button:has-text('暂扣')")
    page.fill("#reason", "违规带团，暂扣三十日")
    page.click("button:has-text('下一步：确认')")
    assert page.locator("h1").inner_text() == "确认暂扣"
    assert page.locator("[data-testid=new-state]").inner_text() == "暂扣"
    assert page.locator("[data-testid=new-reason]").inner_text() == "违规带团，暂扣三十日"
    screenshot(page, "admin-confirm-suspend")
    page.click("button:has-text('确认暂扣')")
    assert page.locator("[role=status]").inner_text() == "证照已暂扣。"
    assert page.locator("dl.details .state-suspended").is_visible()
    screenshot(page, "admin-suspended")
    # resume it, so the other tests of this module see a licence in force
    page.click("a.button:has-text('恢复')")
    page.fill("#reason", "整改完毕")
    page.click("button:has-text('下一步：确认')")
    page.click("button:has-text('确认恢复')")
    assert page.locator("[role=status]").inner_text() == "证照已恢复。"


@pytest.fixture
def agent_licence(live_server: LiveServer) -> str:
    """A licence held by 李四 (the agent), issued by the demo authority."""
    services = live_server.services
    licences = LicenceService(
        services.sessions, services.identifiers, services.audit, services.keys.clock
    )
    agent = live_server.user("agent")
    return licences.issue(
        TOUR_GUIDE_CARD,
        AUTHORITY["uscc"],
        AUTHORITY["name"],
        agent["name"],
        agent["id_number"],
        {**GUIDE_FIELDS, "name": agent["name"]},
        china_date(services.keys.clock()),
        "test",
    ).identifier


def test_a_citizen_cannot_open_an_admin_page_or_another_persons_licence(
    live_server: LiveServer, page: Any, agent_licence: str
) -> None:
    log_in(page, live_server, "agent")  # 李四 represents no organisation
    admin = page.goto(f"{live_server.url}/console/admin/licences")
    assert admin is not None and admin.status == 403
    assert "您没有权限访问此页面" in page.content()
    page.context.clear_cookies()
    log_in(page, live_server, "citizen")
    theirs = page.goto(f"{live_server.url}/console/licences/{agent_licence}")
    assert theirs is not None and theirs.status == 404
    assert "李四" not in page.content()
    screenshot(page, "citizen-other-licence-404")


ACCESSIBILITY_PAGES = [
    ("citizen", "/console/"),
    ("citizen", "/console/profile"),
    ("citizen", "/console/licences"),
    ("citizen", "/console/licences/{guide}"),
    ("citizen", "/console/licences/{guide}/qr"),
    ("citizen", "/console/sessions"),
    ("citizen", "/console/consents"),
    ("citizen", "/console/organisations"),
    ("admin", "/console/admin/licences"),
    ("admin", "/console/admin/licences/{guide}"),
    ("admin", "/console/admin/licences/{guide}/suspend"),
]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_serious_accessibility_violations(live_server: LiveServer, page: Any, lang: str) -> None:
    guide = live_server.licence("tour_guide_card")
    found: dict[str, list[str]] = {}
    who = None
    for person, path in ACCESSIBILITY_PAGES:
        if person != who:
            page.context.clear_cookies()
            log_in(page, live_server, person)
            who = person
        page.goto(f"{live_server.url}{path.format(guide=guide)}?lang={lang}")
        violations = run_axe(page)
        if violations:
            found[path] = [f"{v['id']} ({v['impact']}): {v['help']}" for v in violations]
    # the confirmation screen, reached by its form
    page.goto(f"{live_server.url}/console/admin/licences/{guide}/suspend")
    page.fill("#reason", "检查")
    page.click("main button[type=submit]")
    violations = run_axe(page)
    if violations:
        found["confirm"] = [f"{v['id']} ({v['impact']}): {v['help']}" for v in violations]
    assert not found, found
