"""The seal administrator in a real browser: preview and make a seal, suspend the approval
seal with a reason after a confirmation screen (and resume it), read its uses; axe-core finds
no serious or critical violation; a person without the role gets 403."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, log_in, run_axe, screenshot

pytestmark = pytest.mark.slow


def test_a_seal_administrator_makes_and_suspends_a_seal(live_server: LiveServer, page: Any) -> None:
    log_in(page, live_server, "admin")
    page.click("nav.main-nav >> text=印章管理")
    page.click("a.button:has-text('制作印章')")
    page.select_option("#kind", "contract")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("img.seal-large").is_visible()
    screenshot(page, "seal-admin-new-preview")
    page.click("#create-seal")
    page.wait_for_load_state()
    assert page.locator("[role=status]").inner_text() == "印章已制作。"

    seal = live_server.demo["console"]["approval_seal"]
    page.goto(f"{live_server.url}/console/admin/seals/{seal}")
    page.click("a.button:has-text('暂停印章')")
    page.fill("#reason", "印章保管人变更")
    page.click("button:has-text('下一步：确认')")
    assert page.locator("[data-testid=new-state]").inner_text() == "已暂停"
    screenshot(page, "seal-admin-confirm-suspend")
    page.click("button:has-text('确认暂停印章')")
    assert page.locator("[role=status]").inner_text() == "印章已暂停。"
    assert page.locator("[data-testid=seal-status]").inner_text() == "已暂停"
    screenshot(page, "seal-admin-suspended")
    page.click("a.button:has-text('恢复印章')")
    page.fill("#reason", "交接完毕")
    page.click("button:has-text('下一步：确认')")
    page.click("button:has-text('确认恢复印章')")
    assert page.locator("[role=status]").inner_text() == "印章已恢复。"
    page.click("a.button:has-text('用章记录')")
    assert page.locator("h1").inner_text().startswith("用章记录")
    screenshot(page, "seal-admin-uses")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_seal_admin_pages_are_accessible(live_server: LiveServer, page: Any, lang: str) -> None:
    seal = live_server.demo["console"]["approval_seal"]
    log_in(page, live_server, "admin")
    found: dict[str, list[str]] = {}
    paths = [
        "/console/admin/seals",
        "/console/admin/seals/new",
        f"/console/admin/seals/{seal}",
        f"/console/admin/seals/{seal}/uses",
        f"/console/admin/seals/{seal}/suspend",
    ]
    for path in paths:
        page.goto(f"{live_server.url}{path}?lang={lang}")
        violations = run_axe(page)
        if violations:
            found[path] = [f"{v['id']} ({v['impact']}): {v['help']}" for v in violations]
    page.goto(f"{live_server.url}/console/admin/seals/new")
    page.click("main button[type=submit]")  # the preview
    page.wait_for_load_state()
    for name in ("preview", "confirm"):
        violations = run_axe(page)
        if violations:
            found[name] = [f"{v['id']} ({v['impact']}): {v['help']}" for v in violations]
        page.goto(f"{live_server.url}/console/admin/seals/{seal}/suspend")
        page.fill("#reason", "检查")
        page.click("main button[type=submit]")
        page.wait_for_load_state()
    assert not found, found


def test_a_person_without_the_role_gets_403(live_server: LiveServer, page: Any) -> None:
    log_in(page, live_server, "agent")
    response = page.goto(f"{live_server.url}/console/admin/seals")
    assert response is not None and response.status == 403
