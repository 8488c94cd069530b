"""Chinese first, English on request (?lang=en, then a cookie shared with the provider)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from console.i18n import TEXT
from tests.console.conftest import Demo, log_in


def test_both_languages_have_every_text() -> None:
    assert set(TEXT["zh"]) == set(TEXT["en"])
    assert all(value.strip() for lang in TEXT.values() for value in lang.values())


def test_chinese_first_then_english_on_request(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "citizen")
    zh = browser.get("/console/profile")
    assert '<html lang="zh-CN">' in zh.text
    assert "个人信息" in zh.text
    en = browser.get("/console/profile?lang=en")
    assert '<html lang="en">' in en.text
    assert "Profile" in en.text and "Resident ID number" in en.text
    assert "govtrust_lang=en" in en.headers["set-cookie"]
    again = browser.get("/console/sessions")  # the cookie keeps it
    assert '<html lang="en">' in again.text
    # the switch back names its own language
    assert 'lang="zh-CN" hreflang="zh-CN">中文</a>' in again.text


def test_an_english_browser_gets_english(demo: Demo, browser: TestClient) -> None:
    page = browser.get("/console/logged-out", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in page.text
