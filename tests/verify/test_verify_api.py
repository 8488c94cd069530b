"""The verification edge over HTTP: the page a phone camera opens from the QR (Chinese, or
English), the JSON API with the same verdict, and the signed lists offline verifiers fetch
(media types, caching headers, ETags, freshness)."""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from core.app import create_app
from core.services import Services
from tests.certs.conftest import ADMIN, BUSINESS_FIELDS, issue_business, issue_guide
from tests.verify.conftest import Scene
from verify import router as verify_router
from verify.publication import PublicationPolicy, Publisher
from verify.reasons_zh import reason_zh
from verify.status_list import Status, read_status_list
from verify.trust_list import read_trust_list


@pytest.fixture
def http(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=services), base_url="https://govtrust.test") as client:
        yield client


def test_the_api_gives_the_verdict_and_the_minimum_of_data(http: TestClient, scene: Scene) -> None:
    text = scene.qr(issue_guide(scene.licences))
    response = http.post("/verify", json={"qr": text})
    assert response.status_code == 200
    body = response.json()
    assert body["verdict"] == "valid" and body["valid"] is True
    assert body["checks"] == {"decode": True, "signature": True, "expiry": True, "status": True}
    assert body["licence"]["holder_name"] == "李*"
    assert body["licence"]["type_name"] == "导游证"
    assert set(body["licence"]) == {
        "identifier",
        "version",
        "kind",
        "type_name",
        "holder_name",
        "issuer_name",
        "valid_from",
        "valid_until",
    }
    assert body["status_source"] == "registry"
    assert body["clock_skew_tolerance_seconds"] == 120


def test_the_api_reports_revocation_at_once(http: TestClient, scene: Scene) -> None:
    licence = issue_business(scene.licences)
    text = scene.qr(licence)
    scene.licences.revoke(licence.identifier, "注销", ADMIN)
    body = http.post("/verify", json={"qr": text}).json()
    assert body["verdict"] == "revoked" and body["valid"] is False
    assert body["checks"]["status"] is False


@pytest.mark.parametrize(
    ("payload", "status"),
    [({}, 422), ({"qr": ""}, 422), ({"qr": "x" * 5000}, 422), ({"qr": 5}, 422)],
)
def test_bad_requests_get_problem_json(http: TestClient, payload: object, status: int) -> None:
    response = http.post("/verify", json=payload)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")


def test_an_unreadable_code_is_a_verdict_not_an_error(http: TestClient) -> None:
    body = http.post("/verify", json={"qr": "HC1:NCFOXN%TS3DH"}).json()
    assert body["verdict"] == "unreadable"
    assert body["licence"] is None


def test_the_qr_url_opens_a_page_with_the_verdict(http: TestClient, scene: Scene) -> None:
    licence = issue_guide(scene.licences)
    text = scene.qr(licence)
    assert text.startswith("HTTPS://GOVTRUST.TEST/V/GT1:")
    page = http.get(text)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert 'data-verdict="valid"' in page.text
    assert "有效" in page.text and "李*" in page.text and "导游证" in page.text
    assert "李四" not in page.text
    english = http.get(text, params={"lang": "en"})
    assert "Valid" in english.text and 'lang="en"' in english.text
    by_header = http.get(text, headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Licence verification" in by_header.text

    scene.licences.revoke(licence.identifier, "注销", ADMIN)
    revoked = http.get(text)
    assert 'data-verdict="revoked"' in revoked.text and "已注销" in revoked.text


def test_a_forged_or_foreign_code_says_so_on_the_page(http: TestClient) -> None:
    page = http.get("/V/GT1:GGW")
    assert page.status_code == 200
    assert 'data-verdict="unreadable"' in page.text


def test_the_status_list_is_served_signed_with_caching_headers(
    http: TestClient, scene: Scene
) -> None:
    licence = issue_business(scene.licences)
    response = http.get("/verify/status-lists/1")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/statuslist+jwt"
    assert response.headers["cache-control"] == "public, max-age=5"
    etag = response.headers["etag"]
    assert http.get("/verify/status-lists/1", headers={"If-None-Match": etag}).status_code == 304
    token = read_status_list(response.text, scene.trust().jws_keys())
    assert token.uri == "https://govtrust.test/verify/status-lists/1"
    assert token.status_list.status(licence.status_list_index) == Status.VALID
    missing = http.get("/verify/status-lists/2")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_a_licence_event_reaches_the_published_list_within_seconds(
    services: Services, scene: Scene
) -> None:
    """The list is rebuilt at most every ``refresh_seconds`` (here 1) after an event."""
    publisher = Publisher(
        services.settings.issuer,
        services.sessions,
        services.keys,
        services.cache,
        scene.clock,
        PublicationPolicy(refresh_seconds=1),
    )
    licence = issue_business(scene.licences)
    keys = scene.trust().jws_keys()
    before = read_status_list(publisher.status_list_token(), keys)
    scene.licences.suspend(licence.identifier, "暂扣", ADMIN)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        after = read_status_list(publisher.status_list_token(), keys)
        if after.status_list.status(licence.status_list_index) == Status.SUSPENDED:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the suspension did not reach the published status list within 3 s")
    assert before.status_list.status(licence.status_list_index) == Status.VALID


def test_the_trust_list_verifies_against_the_published_root(http: TestClient) -> None:
    response = http.get("/verify/trust-list")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/trustlist+jwt"
    assert "etag" in response.headers
    bundle = http.get("/pki/trust").json()
    root_pem = next(c["pem"] for c in bundle["certificates"] if c["purpose"] == "root")
    trust = read_trust_list(response.text, x509.load_pem_x509_certificate(root_pem.encode()))
    assert trust.status_lists == ("https://govtrust.test/verify/status-lists/1",)
    assert {key.state for key in trust.keys} >= {"active", "next"}


def test_the_page_gives_the_reasons_in_the_readers_language(http: TestClient, scene: Scene) -> None:
    licence = issue_business(scene.licences)
    text = scene.qr(licence)
    fields = {**BUSINESS_FIELDS, "registered_capital": "壹仟万元整"}
    scene.licences.change(licence.identifier, fields, "增资", ADMIN)
    assert "已被第2版取代" in http.get(text).text
    assert "superseded by version 2" in http.get(text, params={"lang": "en"}).text


@pytest.mark.parametrize(
    ("reason", "chinese"),
    [
        ("genuine and in force", "真实有效"),
        ("superseded by version 3", "已被第3版取代"),
        ("expired after 2031-12-09", "已于2031-12-09到期"),
        ("valid from 2026-12-10", "自2026-12-10起生效"),
        (
            "this dynamic QR expired at 2026-11-27 17:03:00: ask the holder to refresh it",
            "该亮证码已于2026-11-27 17:03:00过期，请持证人刷新",
        ),
        ("the signature is not valid: the signature does not verify", "签名无效"),
        ("something new", "something new"),
    ],
)
def test_reasons_in_chinese(reason: str, chinese: str) -> None:
    assert reason_zh(reason) == chinese


def test_the_verification_endpoints_get_their_service_without_a_thread() -> None:
    """FastAPI runs a plain ``def`` dependency in the thread pool: every scan paid for a trip
    to build a few objects (bench/PROFILE.md)."""
    assert inspect.iscoroutinefunction(verify_router.verification_service)
