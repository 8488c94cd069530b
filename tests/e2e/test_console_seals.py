"""The approver in a real browser: seal one document (anchor text, preview, a click on the
preview to move the seal, step-up to two factors by SMS, download), seal a batch (the
progress bar, per-document results, the zip) and validate the sealed PDF; axe-core finds
no serious or critical violation on these pages; a citizen gets 403 on them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from seal.registry import SealRegistry
from tests.console.pdfs import ANCHOR, simple_pdf
from tests.e2e.conftest import LiveServer, log_in, run_axe, screenshot, second_factor

pytestmark = pytest.mark.slow


def _pdf(name: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "mimeType": "application/pdf", "buffer": data}


def test_an_approver_seals_a_document_after_a_step_up(live_server: LiveServer, page: Any) -> None:
    log_in(page, live_server, "approver")
    page.click("nav.main-nav >> text=我的印章")
    assert page.locator("td >> text=审批专用章").is_visible()
    screenshot(page, "approver-my-seals")

    page.click("nav.main-nav >> text=盖章")
    page.set_input_files("#document", _pdf("decision.pdf", simple_pdf(2)))
    page.fill("#anchor", ANCHOR)
    page.fill("#purpose", "行政许可决定书")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "预览并确认盖章"
    assert "第 2 页" in page.locator("[data-testid=placement]").inner_text()
    page.wait_for_function("document.getElementById('preview').naturalWidth > 0")
    screenshot(page, "approver-preview")

    # a click on the preview moves the seal (place.js fills the form)
    box = page.locator("#preview").bounding_box()
    assert box is not None
    page.locator("#preview").click(position={"x": box["width"] * 0.7, "y": box["height"] * 0.85})
    assert page.locator("#move-page").input_value() == "2"
    assert page.locator("input[name=mode][value=position]").nth(0).is_checked()
    page.click("#placement-form button[type=submit]")
    page.wait_for_load_state()
    placement = page.locator("[data-testid=placement]").inner_text()
    assert "第 2 页" in placement and ANCHOR not in placement

    assert page.locator("[data-testid=step-up-note]").is_visible()
    page.click("#confirm-stamp")
    page.wait_for_load_state()
    assert "/interaction/" in page.url  # the provider asks for a second factor
    screenshot(page, "approver-step-up")
    second_factor(page, live_server)
    assert page.locator("h1").inner_text() == "预览并确认盖章"
    assert page.locator("[data-testid=step-up-note]").count() == 0
    page.click("#confirm-stamp")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "盖章完成"
    screenshot(page, "approver-stamped")
    with page.expect_download() as download:
        page.click("#download-sealed")
    sealed = download.value.path()
    assert sealed is not None
    data = Path(sealed).read_bytes()
    assert data.startswith(b"%PDF")

    page.click("a.button:has-text('验证签章')")
    page.set_input_files("#document", _pdf("sealed.pdf", data))
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("[data-testid=verdict]").inner_text().startswith("有效")
    screenshot(page, "approver-validation-report")
    assert not run_axe(page), "validation report"


@pytest.fixture
def agent_approver(live_server: LiveServer) -> str:
    """李四 (the demo agent) granted the approval seal too: a second approver, whose SMS
    step-up is not held back by the first approver's code of a minute ago."""
    services = live_server.services
    seals = SealRegistry(services.sessions, services.keys, services.audit, services.keys.clock)
    with services.sessions() as session:
        agent = seals.identities.person_by_subject(session, live_server.user("agent")["subject"])
        admin = seals.identities.person_by_subject(session, live_server.user("admin")["subject"])
    assert agent is not None and admin is not None
    seals.grant(
        live_server.demo["console"]["approval_seal"],
        agent.id,
        by=admin.id,
        valid_until=services.keys.clock() + timedelta(days=1),
    )
    return "agent"


def test_an_approver_seals_a_batch(live_server: LiveServer, page: Any, agent_approver: str) -> None:
    log_in(page, live_server, agent_approver)
    page.goto(f"{live_server.url}/console/batch")
    page.set_input_files(
        "#documents",
        [
            _pdf("a.pdf", simple_pdf(1)),
            _pdf("b.pdf", simple_pdf(1, "no anchor")),
            _pdf("c.pdf", simple_pdf(2)),
        ],
    )
    page.fill("#anchor", ANCHOR)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "核对批量盖章"
    page.click("#confirm-batch")
    page.wait_for_load_state()
    if "/interaction/" in page.url:  # this browser context has not stepped up yet
        second_factor(page, live_server)
        page.click("#confirm-batch")
        page.wait_for_load_state()
    assert "/console/jobs/" in page.url
    page.wait_for_selector("[data-testid=job-summary]", timeout=60_000)  # progress.js reloads
    assert "2 / 3" in page.locator("[data-testid=job-summary]").inner_text()
    screenshot(page, "approver-batch-done")
    with page.expect_download() as download:
        page.click("#download-zip")
    assert download.value.suggested_filename.endswith(".zip")
    assert not run_axe(page), "batch job page"


APPROVER_PAGES = ["/console/seals/mine", "/console/stamp", "/console/batch", "/console/validate"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_approver_pages_are_accessible(live_server: LiveServer, page: Any, lang: str) -> None:
    log_in(page, live_server, "approver")
    found: dict[str, list[str]] = {}
    for path in APPROVER_PAGES:
        page.goto(f"{live_server.url}{path}?lang={lang}")
        violations = run_axe(page)
        if violations:
            found[path] = [f"{v['id']} ({v['impact']}): {v['help']}" for v in violations]
    page.goto(f"{live_server.url}/console/stamp")
    page.set_input_files("#document", _pdf("decision.pdf", simple_pdf(1)))
    page.fill("#anchor", ANCHOR)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    page.click("summary")  # the placement form, open
    violations = run_axe(page)
    if violations:
        found["preview"] = [f"{v['id']} ({v['impact']}): {v['help']}" for v in violations]
    assert not found, found


def test_a_citizen_cannot_open_the_approver_pages(live_server: LiveServer, page: Any) -> None:
    log_in(page, live_server, "citizen")
    for path in ("/console/seals/mine", "/console/stamp", "/console/batch"):
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.status == 403, path
