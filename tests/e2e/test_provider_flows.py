"""The provider's own pages in headless Chromium, as people meet them from other channels:
a person logs in on the portal, chooses to act for their company, consents, and lands back
on the portal logged in; the kiosk QR login (device grant) approved on the phone's browser;
a third party opens a licence's verification page from its QR. Screenshots of each page,
and axe-core on each, with no serious or critical violations."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from certs.service import LicenceService
from tests.e2e.conftest import (  # fixtures and helpers
    LiveServer,
    chromium,
    live_server,
    page,
    run_axe,
    screenshot,
)

PORTAL = "http://localhost:3000"
__all__ = ["chromium", "live_server", "page"]


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def _accessible(page: Any, name: str) -> None:
    screenshot(page, name)
    violations = run_axe(page)
    assert violations == [], [(v["id"], v["impact"], v["help"]) for v in violations]


def _log_in(page: Any, server: LiveServer) -> None:
    citizen = server.user("citizen")
    page.fill("#username", citizen["id_number"])
    page.fill("#password", citizen["password"])
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_portal_login_for_the_company_with_consent(live_server: LiveServer, page: Any) -> None:
    web = live_server.demo["idp"]["clients"]["web"]
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(16)
    page.route(
        f"{PORTAL}/**",
        lambda route: route.fulfill(
            status=200,
            content_type="text/html",
            body='<!doctype html><html lang="zh-CN"><title>门户</title><main>门户</main></html>',
        ),
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": web["client_id"],
            "redirect_uri": web["redirect_uris"][0],
            "scope": "openid profile organisation",
            "state": state,
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    page.goto(f"{live_server.url}/authorize?{query}")
    _accessible(page, "provider-login")
    _log_in(page, live_server)
    company = page.locator("input[name=acting_as]:not([value=self])")
    assert company.count() == 1, page.content()[:500]
    _accessible(page, "provider-choose-organisation")
    company.check()
    page.click("button[type=submit]")
    page.wait_for_load_state()
    _accessible(page, "provider-consent")
    page.click("button[name=consent][value=allow]")
    page.wait_for_url(f"{PORTAL}/**")
    back = parse_qs(urlsplit(page.url).query)
    assert back["state"] == [state]
    assert back["iss"] == [live_server.url]  # RFC 9207
    tokens = httpx.post(
        f"{live_server.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"][0],
            "redirect_uri": web["redirect_uris"][0],
            "code_verifier": verifier,
        },
        auth=(web["client_id"], web["client_secret"]),
        timeout=30,
    )
    assert tokens.status_code == 200, tokens.text
    claims = _claims(tokens.json()["id_token"])
    assert claims["act"]["sub"] == live_server.user("citizen")["subject"]
    assert claims["sub"] != claims["act"]["sub"]  # the company is the subject


def test_kiosk_qr_login_approved_in_the_browser(live_server: LiveServer, page: Any) -> None:
    kiosk = live_server.demo["idp"]["clients"]["kiosk"]
    started = httpx.post(
        f"{live_server.url}/device_authorization",
        data={"client_id": kiosk["client_id"], "scope": "openid profile"},
        auth=(kiosk["client_id"], kiosk["client_secret"]) if kiosk["client_secret"] else None,
        timeout=30,
    )
    assert started.status_code == 200, started.text
    device = started.json()
    page.goto(device["verification_uri_complete"])  # what the kiosk's QR holds
    _accessible(page, "kiosk-login")
    _log_in(page, live_server)
    _accessible(page, "kiosk-confirm")
    assert device["user_code"] in page.content()
    page.click("button[name=decision][value=allow]")
    page.wait_for_load_state()
    _accessible(page, "kiosk-done")
    deadline = time.monotonic() + 30
    while True:
        polled = httpx.post(
            f"{live_server.url}/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "device_code": device["device_code"],
                "client_id": kiosk["client_id"],
            },
            auth=(kiosk["client_id"], kiosk["client_secret"]) if kiosk["client_secret"] else None,
            timeout=30,
        )
        if polled.status_code == 200 or time.monotonic() > deadline:
            break
        assert polled.json()["error"] in ("authorization_pending", "slow_down"), polled.text
        time.sleep(device.get("interval", 5))
    assert polled.status_code == 200, polled.text
    assert _claims(polled.json()["id_token"])["sub"]


def test_a_third_party_opens_the_verification_page_from_a_qr(
    live_server: LiveServer, page: Any
) -> None:
    services = live_server.services
    licences = LicenceService(
        services.sessions, services.identifiers, services.audit, services.keys.clock
    )
    licence = licences.get(live_server.licence("business_licence"))
    qr_text = services.licence_qr.electronic(licence)
    assert qr_text.startswith("HTTP://127.0.0.1:")
    page.goto(qr_text)  # a phone camera opens the URL as it is
    verdict = page.locator("[data-verdict]")
    assert verdict.get_attribute("data-verdict") == "valid"
    assert "有效" in verdict.inner_text()
    _accessible(page, "verify-valid")
    page.click("a[lang=en]")
    page.wait_for_load_state()
    assert "Valid" in page.locator("[data-verdict]").inner_text()
    _accessible(page, "verify-valid-en")
    page.goto(f"{live_server.url}/V/GT1:GGW")
    assert page.locator("[data-verdict]").get_attribute("data-verdict") == "unreadable"
    _accessible(page, "verify-unreadable")
