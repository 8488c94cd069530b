"""A legal representative in a real browser: authorises an agent by ID number (the number
only posted, shown masked) after a confirmation screen, then withdraws the agent with a
reason after another; axe-core finds no serious or critical violation on any of the pages."""

from __future__ import annotations

from typing import Any

import pytest

from idp.demo import AGENT
from tests.e2e.conftest import LiveServer, log_in, run_axe, screenshot

pytestmark = pytest.mark.slow


def _axe(page: Any, name: str, found: dict[str, list[str]]) -> None:
    violations = run_axe(page)
    if violations:
        found[name] = [f"{v['id']} ({v['impact']}): {v['help']}" for v in violations]


def test_a_legal_representative_grants_and_withdraws_an_agent(
    live_server: LiveServer, page: Any
) -> None:
    found: dict[str, list[str]] = {}
    log_in(page, live_server, "citizen")
    page.click("nav.main-nav >> text=我的单位")
    _axe(page, "organisations", found)
    page.click("a:has-text('管理代办人')")
    assert page.locator("h1").inner_text() == "福州示例科技有限公司的代办人"
    _axe(page, "agents", found)

    page.fill("#id_number", AGENT["id_number"])
    page.check("input[name=scopes][value='licence:read']")
    page.check("input[name=scopes][value='seal:use']")
    page.click("button:has-text('下一步：确认')")
    page.wait_for_load_state()
    assert AGENT["id_number"] not in page.url
    assert page.locator("[data-testid=new-agent]").inner_text() == "李四"
    masked = page.locator("[data-testid=new-agent-id-number]").inner_text()
    assert "*" in masked and AGENT["id_number"] not in page.content()
    _axe(page, "grant-confirm", found)
    screenshot(page, "citizen-agent-grant-confirm")
    page.click("button:has-text('确认授权代办人')")
    page.wait_for_load_state()
    assert page.locator("[role=status]").inner_text() == "代办授权已生效。"
    assert page.locator("[data-testid=agent-id-number]").first.inner_text() == masked
    _axe(page, "agents-with-one", found)
    screenshot(page, "citizen-agents")

    page.click("a:has-text('撤回代办授权')")
    _axe(page, "withdraw-reason", found)
    page.fill("#reason", "经办人离职")
    page.click("button:has-text('下一步：确认')")
    page.wait_for_load_state()
    assert page.locator("[data-testid=new-state]").inner_text() == "已撤回"
    _axe(page, "withdraw-confirm", found)
    screenshot(page, "citizen-agent-withdraw-confirm")
    page.click("button:has-text('确认撤回代办授权')")
    page.wait_for_load_state()
    assert page.locator("[role=status]").inner_text() == "代办授权已撤回。"
    page.goto(page.url.split("?")[0] + "?lang=en")
    _axe(page, "agents-en", found)
    assert not found, found
