"""The platform administrator in a real browser: a step-up to two factors on the way in,
a client registered (its secret shown once), a client disabled after a reason and a
confirmation, the audit trail verified; axe-core finds no serious or critical violation;
a person not named in GOVTRUST_PLATFORM_ADMINS gets 403."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, log_in, run_axe, screenshot, second_factor

pytestmark = pytest.mark.slow


@pytest.fixture
def platform_admin(live_server: LiveServer) -> Iterator[str]:
    """王芳 (certs.admin) named in the platform administrators' setting, for this test."""
    services = live_server.services
    before = services.settings
    services.settings = before.model_copy(
        update={"platform_admins": [live_server.user("admin")["subject"]]}
    )
    try:
        yield "admin"
    finally:
        services.settings = before


def test_a_platform_admin_registers_and_disables_a_client(
    live_server: LiveServer, page: Any, platform_admin: str
) -> None:
    log_in(page, live_server, platform_admin)
    page.click("nav.main-nav >> text=平台管理")
    page.wait_for_load_state()
    assert "/interaction/" in page.url  # two factors first
    second_factor(page, live_server)
    assert page.locator("h1").inner_text() == "平台管理"
    page.click("#verify-audit")
    page.wait_for_load_state()
    assert page.locator("[data-testid=verification]").inner_text().startswith("验证通过")
    screenshot(page, "platform-audit-verified")

    page.click(".sub-nav >> text=应用")
    page.click("a.button:has-text('注册应用')")
    page.fill("#name", "区县政务网")
    page.fill("#redirect_uris", "https://county.example.gov.cn/callback")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert len(page.locator("[data-testid=client-secret]").inner_text()) >= 32
    screenshot(page, "platform-client-secret-once")
    page.click("a.button:has-text('继续')")
    page.click("a.button:has-text('停用应用')")
    page.fill("#reason", "测试渠道下线")
    page.click("button:has-text('下一步：确认')")
    assert page.locator("[data-testid=new-state]").inner_text() == "停用"
    screenshot(page, "platform-confirm-disable")
    page.click("button:has-text('确认停用应用')")
    assert page.locator("[data-testid=client-status]").inner_text() == "停用"

    found: dict[str, list[str]] = {}
    for path in ("", "/clients", "/clients/new", "/keys", "/audit", "/accounts"):
        for lang in ("zh", "en"):
            page.goto(f"{live_server.url}/console/platform{path}?lang={lang}")
            violations = run_axe(page)
            if violations:
                found[f"{path}?{lang}"] = [f"{v['id']} ({v['impact']})" for v in violations]
    page.goto(f"{live_server.url}/console/platform/keys/token/rotate?lang=zh")
    page.fill("#reason", "检查")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    violations = run_axe(page)
    if violations:
        found["confirm"] = [f"{v['id']} ({v['impact']})" for v in violations]
    assert not found, found


def test_a_person_not_listed_gets_403(live_server: LiveServer, page: Any) -> None:
    log_in(page, live_server, "admin")  # no platform_admin fixture: not listed
    response = page.goto(f"{live_server.url}/console/platform")
    assert response is not None and response.status == 403
