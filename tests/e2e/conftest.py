"""Browser tests of the console: a live govtrust (embedded backend, the demo seeded, real
time) served by uvicorn on loopback, and Debian's Chromium driven headless by the Python
``playwright`` package (never a browser of playwright's own: it cannot be downloaded here).

Chromium missing or failing to start fails these tests in CI (``CI=true`` or
``GOVTRUST_TEST_REQUIRE_REAL_BACKENDS=1``, as ``.ci/run`` sets) and skips them, with the
reason, elsewhere. axe-core comes from ``npm ci --prefix tests/e2e`` (``package-lock.json``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from core.app import create_app
from core.db.migrate import upgrade
from core.demo import seed_demo
from core.services import Services, build_services
from tests.conftest import FrozenClock, make_settings

CHROMIUM = os.environ.get("GOVTRUST_TEST_CHROMIUM", "/usr/bin/chromium")
HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE / "screenshots"
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
STRICT = (
    os.environ.get("CI") == "true" or os.environ.get("GOVTRUST_TEST_REQUIRE_REAL_BACKENDS") == "1"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def unavailable(reason: str) -> None:
    """Fail in CI, skip (loudly, with the reason) elsewhere."""
    if STRICT:
        pytest.fail(f"browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"browser tests cannot run: {reason}")


class LiveClock(FrozenClock):
    def __call__(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class LiveServer:
    url: str
    demo: dict[str, Any]
    services: Services

    def user(self, who: str) -> dict[str, Any]:
        if who == "admin":
            return dict(self.demo["certs"]["admin"])
        if who == "approver":
            return dict(self.demo["console"]["approver"])
        return dict(self.demo["idp"]["users"][who])

    def licence(self, name: str) -> str:
        return str(self.demo["certs"]["licences"][name]["identifier"])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """govtrust with the demo data, over HTTP on a free loopback port."""
    tmp_path = tmp_path_factory.mktemp("e2e")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(tmp_path, issuer=url)
    built = build_services(settings, clock=LiveClock())
    upgrade(built.engine)
    built.keys.init()
    demo = seed_demo(built, tmp_path / "demo.json")
    config = uvicorn.Config(create_app(settings, built), lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the govtrust app did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(url, demo, built)
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()
        built.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium, through playwright."""
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the Python package playwright is not installed (pip install -e '.[test]')")
    manager = sync_playwright().start()
    try:
        try:  # playwright starts it with a fresh, empty profile of its own every time
            browser = manager.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except Exception as error:  # playwright's launch errors have several types
            unavailable(f"chromium did not start: {error}")
        yield browser
        browser.close()
    finally:
        manager.stop()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A new browser context (its own cookies) and page, Chinese, desktop-sized."""
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1200, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Any, server: LiveServer, who: str, start: str = "/console/") -> None:
    """Log in through the provider's pages as a person does: ID number and password, act
    as oneself, allow the console."""
    user = server.user(who)
    page.goto(server.url + start)
    page.fill("#username", user["id_number"])
    page.fill("#password", user["password"])
    page.click("button[type=submit]")
    page.wait_for_load_state()
    for _ in range(3):
        if "/console/" in page.url and "/interaction/" not in page.url:
            return
        if page.locator("input[name=acting_as]").count():
            page.check("input[name=acting_as][value=self]")
            page.click("button[type=submit]")
        elif page.locator("button[name=consent][value=allow]").count():
            page.click("button[name=consent][value=allow]")
        page.wait_for_load_state()
    assert "/console/" in page.url, page.url


def run_axe(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page, serious and critical ones only."""
    if not AXE.exists():
        unavailable(f"{AXE} is missing (npm ci --prefix tests/e2e)")
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]


def second_factor(page: Any, server: LiveServer) -> None:
    """On the provider's step-up page: have a code sent by SMS (the outbox), type it in."""
    page.click("form[action$='/sms'] button")
    page.wait_for_load_state()
    outbox = Path(server.services.settings.data_dir) / "outbox.jsonl"
    message = json.loads(outbox.read_text(encoding="utf-8").splitlines()[-1])["message"]
    code = re.search(r"\d{6}", message)
    assert code, message
    page.fill("#otp-sms", code.group(0))
    page.click("form[action$='/second-factor'] button[type=submit]")
    page.wait_for_load_state()
    for _ in range(3):
        if "/console/" in page.url and "/interaction/" not in page.url:
            return
        if page.locator("input[name=acting_as]").count():
            page.check("input[name=acting_as][value=self]")
            page.click("button[type=submit]")
        elif page.locator("button[name=consent][value=allow]").count():
            page.click("button[name=consent][value=allow]")
        page.wait_for_load_state()
    assert "/console/" in page.url, page.url
