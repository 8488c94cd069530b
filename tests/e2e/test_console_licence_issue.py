"""The licence administrator in a real browser: issue a 导游证 through the form made from the
type's JSON Schema, check the confirmation (holder code masked), issue; axe-core finds no
serious or critical violation on the types, issue, confirmation and import pages."""

from __future__ import annotations

from typing import Any

import pytest

from certs.demo_types import TOUR_GUIDE_CARD
from tests.e2e.conftest import LiveServer, log_in, run_axe, screenshot

pytestmark = pytest.mark.slow


def _violations(page: Any, name: str, found: dict[str, list[str]]) -> None:
    violations = run_axe(page)
    if violations:
        found[name] = [f"{v['id']} ({v['impact']}): {v['help']}" for v in violations]


def test_a_licence_administrator_issues_a_licence(live_server: LiveServer, page: Any) -> None:
    found: dict[str, list[str]] = {}
    code = live_server.user("agent")["id_number"]
    log_in(page, live_server, "admin")
    page.goto(f"{live_server.url}/console/admin/licence-types")
    _violations(page, "types", found)
    page.click("text=导游证")
    _violations(page, "type", found)
    page.click("a.button:has-text('签发证照')")
    _violations(page, "issue-form", found)
    page.fill("#holder_name", "林晓")
    page.fill("#holder_code", code)
    page.fill("#f-name", "林晓")
    page.select_option("#f-sex", "女")
    page.fill("#f-language", "英语")
    page.select_option("#f-level", "中级")
    page.fill("#f-issuing-authority", "福州市文化和旅游局")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert (
        page.locator("[data-testid=holder-code]").inner_text() == f"{code[:6]}********{code[-4:]}"
    )
    assert code not in page.content()
    screenshot(page, "licence-admin-issue-confirm")
    _violations(page, "issue-confirm", found)
    page.click("button:has-text('确认签发')")
    page.wait_for_load_state()
    assert page.locator("[role=status]").inner_text() == "证照已签发。"
    screenshot(page, "licence-admin-issued")
    _violations(page, "issued", found)
    page.goto(f"{live_server.url}/console/admin/licence-types/{TOUR_GUIDE_CARD}/import?lang=en")
    _violations(page, "import", found)
    guide = live_server.licence("tour_guide_card")
    for action in ("change", "renew"):
        page.goto(f"{live_server.url}/console/admin/licences/{guide}/{action}")
        _violations(page, action, found)
    assert not found, found
