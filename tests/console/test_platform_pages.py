"""Platform administration: only the subjects GOVTRUST_PLATFORM_ADMINS names, and only after
a step-up to two factors; clients per channel (register: the secret shown once; rotate;
disable), keys (rotate with a reason), the audit trail (search, verify, the checkpoint) and
locked accounts (unlock with a reason)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from core.audit.entry import parse_entry
from idp.admin.clients import get_client
from idp.login import account_key
from tests.console.conftest import (
    Demo,
    assert_control_characters_refused,
    csrf_of,
    log_in,
    step_up,
)


@pytest.fixture
def platform_demo(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> Demo:
    """The demo, with the licence administrator (王芳) named a platform administrator."""
    settings = demo.services.settings.model_copy(
        update={"platform_admins": [demo.user("admin")["subject"]]}
    )
    monkeypatch.setattr(demo.services, "settings", settings)
    return demo


def _audit(demo: Demo, action: str) -> list[dict[str, object]]:
    with demo.services.sessions() as session:
        entries = [parse_entry(s.entry) for s in demo.services.audit.store.entries(session)]
    return [e.event.__dict__ for e in entries if e.event.action == action]


def _enter(browser: TestClient, demo: Demo) -> str:
    """Log in as the platform administrator, stepping up to two factors on the way."""
    page = log_in(browser, demo, "admin", start="/console/platform")
    page = step_up(browser, demo, "admin", page)  # a password login is not enough
    assert page.status_code == 200, page.text[:500]
    assert str(page.url).endswith("/console/platform")
    return page.text


def test_only_listed_subjects_after_a_step_up(platform_demo: Demo, browser: TestClient) -> None:
    demo = platform_demo
    home = log_in(browser, demo, "admin")
    assert 'href="/console/platform"' in home.text
    below = browser.get("/console/platform", follow_redirects=False)
    assert below.status_code == 303 and "acr=urn%3Agovtrust%3Aloa%3A2" in below.headers["location"]
    other = TestClient(browser.app, base_url="https://govtrust.test")
    log_in(other, demo, "citizen")
    for path in ("/console/platform", "/console/platform/clients", "/console/platform/keys"):
        assert other.get(path).status_code == 403, path
    assert 'href="/console/platform"' not in other.get("/console/").text


def test_register_a_client_and_see_its_secret_once(
    platform_demo: Demo, browser: TestClient
) -> None:
    demo = platform_demo
    page = _enter(browser, demo)
    listing = browser.get("/console/platform/clients?channel=kiosk")
    assert "demo-kiosk" in listing.text and "demo-web" not in listing.text
    form = browser.get("/console/platform/clients/new")
    made = browser.post(
        "/console/platform/clients/new",
        data={
            "csrf": csrf_of(form.text),
            "name": "区县政务网",
            "channel": "web",
            "scope": "openid profile",
            "redirect_uris": "https://county.example.gov.cn/callback",
            "token_endpoint_auth_method": "client_secret_basic",
        },
    )
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    client_id = re.search(r'data-testid="client-id">([^<]+)<', made.text)
    secret = re.search(r'data-testid="client-secret">([^<]+)<', made.text)
    assert client_id and secret and len(secret.group(1)) >= 32
    shown = browser.get(f"/console/platform/clients/{client_id.group(1)}")
    assert shown.status_code == 200 and secret.group(1) not in shown.text
    bad = browser.post(
        "/console/platform/clients/new",
        data={
            "csrf": csrf_of(form.text),
            "name": "x",
            "channel": "web",
            "scope": "openid",
            "redirect_uris": "http://evil.example/cb",
        },
    )
    assert bad.status_code == 422
    del page


def test_text_with_a_control_character_is_refused(platform_demo: Demo, browser: TestClient) -> None:
    """A NUL in the audit search, a client's name or an ID number looked up was a 500 on
    PostgreSQL: refused, with a message, before anything reads it."""
    demo = platform_demo
    page = _enter(browser, demo)
    for query in ("object_id=a%00b", "action=%00", "object_type=client%01"):
        assert_control_characters_refused(browser.get(f"/console/platform/audit?{query}"))
    assert browser.get("/console/platform/audit?object_id=a-b").status_code == 200
    before = len(_audit(demo, "client.registered"))
    client = {
        "csrf": csrf_of(page),
        "name": "区县\x00政务网",
        "channel": "web",
        "scope": "openid",
        "redirect_uris": "https://county.example.gov.cn/callback",
    }
    assert_control_characters_refused(browser.post("/console/platform/clients/new", data=client))
    uris = {**client, "name": "区县政务网", "redirect_uris": "https://a.example/cb\x00"}
    assert_control_characters_refused(browser.post("/console/platform/clients/new", data=uris))
    assert len(_audit(demo, "client.registered")) == before
    lookup = {"csrf": csrf_of(page), "id_number": "11010519491231002X\x00"}
    assert_control_characters_refused(
        browser.post("/console/platform/accounts/lookup", data=lookup)
    )


def test_rotate_a_secret_and_disable_a_client_with_reasons(
    platform_demo: Demo, browser: TestClient
) -> None:
    demo = platform_demo
    page = _enter(browser, demo)
    review = browser.post(
        "/console/platform/clients/demo-web/rotate-secret",
        data={"csrf": csrf_of(page), "reason": "疑似泄露"},
    )
    assert review.status_code == 200 and "确认更换密钥" in review.text
    rotated = browser.post(
        "/console/platform/clients/demo-web/rotate-secret",
        data={"csrf": csrf_of(page), "reason": "疑似泄露", "step": "confirm"},
    )
    assert rotated.status_code == 200 and 'data-testid="client-secret"' in rotated.text
    reasons = [e["details"] for e in _audit(demo, "console.reason")]
    assert {"for": "client.rotate-secret", "reason": "疑似泄露", "via": "console"} in reasons
    empty = browser.post(
        "/console/platform/clients/demo-web/disable", data={"csrf": csrf_of(page), "reason": ""}
    )
    assert empty.status_code == 422
    done = browser.post(
        "/console/platform/clients/demo-web/disable",
        data={"csrf": csrf_of(page), "reason": "渠道下线", "step": "confirm"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert get_client(demo.services.idp, "demo-web").status == "disabled"
    console_itself = browser.get("/console/platform/clients/govtrust-console/disable")
    assert console_itself.status_code == 409  # the console's own registration is not offered


def test_rotate_a_key_and_verify_the_audit_trail(platform_demo: Demo, browser: TestClient) -> None:
    demo = platform_demo
    page = _enter(browser, demo)
    keys = browser.get("/console/platform/keys")
    assert keys.status_code == 200 and 'href="/console/platform/keys/token/rotate"' in keys.text
    assert browser.get("/console/platform/keys/root/rotate").status_code == 409
    before = [k.kid for k in demo.services.keys.list_keys("token") if k.state == "active"]
    done = browser.post(
        "/console/platform/keys/token/rotate",
        data={"csrf": csrf_of(page), "reason": "定期轮换", "step": "confirm"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    after = [k.kid for k in demo.services.keys.list_keys("token") if k.state == "active"]
    assert after and after != before
    refused = browser.post(  # the SM2 hierarchy is off: no rotation, and no reason noted
        "/console/platform/keys/sm2-licence/rotate",
        data={"csrf": csrf_of(page), "reason": "未发生的轮换", "step": "confirm"},
        follow_redirects=False,
    )
    assert refused.status_code == 503

    with demo.services.sessions() as session:
        demo.services.audit.checkpoint(session)
        session.commit()
    overview = browser.get("/console/platform")
    assert 'data-testid="checkpoint"' in overview.text
    verified = browser.post("/console/platform/audit/verify", data={"csrf": csrf_of(page)})
    assert verified.status_code == 200 and "验证通过" in verified.text

    found = browser.get("/console/platform/audit?action=console.reason")
    assert "定期轮换" in found.text and "key_purpose" in found.text
    assert "未发生的轮换" not in found.text
    by_object = browser.get("/console/platform/audit?object_type=client&object_id=demo-web")
    assert "demo-web" in by_object.text


def test_unlock_a_locked_account_with_a_reason(platform_demo: Demo, browser: TestClient) -> None:
    demo = platform_demo
    citizen = demo.user("citizen")
    provider = demo.services.idp
    for _ in range(5):
        provider.throttle.begin(account_key(provider, citizen["id_number"]), "10.0.0.9").failed()
    page = _enter(browser, demo)
    found = browser.post(
        "/console/platform/accounts/lookup",
        data={"csrf": csrf_of(page), "id_number": citizen["id_number"]},
    )
    assert found.status_code == 200 and "张三" in found.text
    assert citizen["id_number"] not in found.text and "已锁定" in found.text
    action = re.search(r'action="(/console/platform/accounts/[^"/]+/unlock)"', found.text)
    assert action
    review = browser.post(action.group(1), data={"csrf": csrf_of(page), "reason": "本人来电核实"})
    assert "确认解除锁定" in review.text
    done = browser.post(
        action.group(1),
        data={"csrf": csrf_of(page), "reason": "本人来电核实", "step": "confirm"},
    )
    assert done.status_code == 200 and "已解除锁定" in done.text and "未锁定" in done.text
    assert _audit(demo, "person.unlocked")
    unknown = browser.post(
        "/console/platform/accounts/lookup",
        data={"csrf": csrf_of(page), "id_number": "110105194912310021"},
    )
    assert unknown.status_code == 404
