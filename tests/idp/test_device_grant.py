"""The device authorization grant (RFC 8628) for self-service kiosks: each rule with its
negative case (pending, slow_down, approval, single use, denial, expiry, another client,
user-code guessing, CSRF)."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.app import create_app
from core.audit.storage import AuditEntryRow
from core.services import Services
from idp.clients.channels import DEVICE_CODE, Channel
from idp.oauth.device import GUESS_LIMIT_PER_ADDRESS, GUESS_LIMIT_PER_PERSON, GuessLimit
from tests.conftest import FrozenClock
from tests.idp.oidc_helpers import CITIZEN_ID, PASSWORD, World, build_world, client_service, csrf_of

ISSUER = "https://govtrust.test"
USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")


@dataclass
class Kiosk:
    client_id: str
    secret: str

    @property
    def auth(self) -> tuple[str, str]:
        return self.client_id, self.secret


@pytest.fixture
def world(services: Services) -> World:
    return build_world(services)


def register_kiosk(services: Services, name: str = "市民中心自助终端") -> Kiosk:
    clients = client_service(services)
    kiosk, secret = clients.register(
        name=name, channel=Channel.KIOSK, scope="openid profile offline_access"
    )
    assert secret is not None
    assert DEVICE_CODE in kiosk.grant_types
    return Kiosk(kiosk.client_id, secret)


@pytest.fixture
def kiosk(services: Services, world: World) -> Kiosk:
    return register_kiosk(services)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    """The kiosk's HTTP client (no cookies matter to it)."""
    yield TestClient(create_app(services=services), base_url=ISSUER)


@pytest.fixture
def phone(services: Services, world: World) -> Iterator[TestClient]:
    """The person's browser, logged in at the provider."""
    browser = TestClient(create_app(services=services), base_url=ISSUER)
    log_in(browser)
    yield browser


def log_in(browser: TestClient, user_code: str | None = None) -> httpx.Response:
    page = browser.get("/device", params={"user_code": user_code} if user_code else None)
    assert 'name="password"' in page.text
    action = re.search(r'action="([^"]+)"', page.text)
    assert action
    posted: httpx.Response = browser.post(
        action.group(1).replace("&amp;", "&"),
        data={"username": CITIZEN_ID, "password": PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text
    return posted


def start(client: TestClient, kiosk: Kiosk, **form: str) -> dict[str, Any]:
    response = client.post(
        "/device_authorization",
        data={"scope": "openid profile offline_access", **form},
        auth=kiosk.auth,
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def poll(client: TestClient, kiosk: Kiosk, device_code: str) -> dict[str, Any]:
    response = client.post(
        "/token",
        data={"grant_type": DEVICE_CODE, "device_code": device_code},
        auth=kiosk.auth,
    )
    body: dict[str, Any] = response.json()
    body["_status"] = response.status_code
    return body


def decide(phone: TestClient, user_code: str, decision: str = "allow") -> httpx.Response:
    page = phone.get("/device", params={"user_code": user_code})
    assert 'name="decision"' in page.text, page.text
    answered: httpx.Response = phone.post(
        "/device/approve",
        data={"user_code": user_code, "decision": decision, "csrf": csrf_of(page.text)},
    )
    return answered


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def test_discovery_names_the_device_endpoint(client: TestClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").json()
    assert metadata["device_authorization_endpoint"] == f"{ISSUER}/device_authorization"
    assert DEVICE_CODE in metadata["grant_types_supported"]


def test_device_authorization_response(client: TestClient, kiosk: Kiosk) -> None:
    body = start(client, kiosk)
    assert USER_CODE.match(body["user_code"])
    assert len(body["device_code"]) >= 40
    assert body["verification_uri"] == f"{ISSUER}/device"
    assert body["verification_uri_complete"] == (f"{ISSUER}/device?user_code={body['user_code']}")
    assert body["expires_in"] == 600 and body["interval"] == 5
    other = start(client, kiosk)
    assert other["user_code"] != body["user_code"]
    assert other["device_code"] != body["device_code"]


def test_only_authenticated_kiosks_get_device_codes(
    client: TestClient, kiosk: Kiosk, world: World
) -> None:
    form = {"scope": "openid"}
    wrong_secret = client.post("/device_authorization", data=form, auth=(kiosk.client_id, "wrong"))
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    no_secret = client.post("/device_authorization", data={"client_id": kiosk.client_id})
    assert no_secret.status_code == 401
    web = client.post(
        "/device_authorization", data=form, auth=(world.web_client_id, world.web_secret)
    )
    assert web.status_code == 400 and web.json()["error"] == "unauthorized_client"
    wider = client.post(
        "/device_authorization", data={"scope": "openid id_number"}, auth=kiosk.auth
    )
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    as_json = client.post("/device_authorization", json={"scope": "openid"}, auth=kiosk.auth)
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"


def test_pending_slow_down_approve_tokens_once(
    client: TestClient, phone: TestClient, kiosk: Kiosk, world: World, clock: FrozenClock
) -> None:
    started = start(client, kiosk)
    device_code, user_code = started["device_code"], started["user_code"]
    assert poll(client, kiosk, device_code)["error"] == "authorization_pending"
    # polled again at once: too fast, and the interval grows to 10 s
    assert poll(client, kiosk, device_code)["error"] == "slow_down"
    clock.advance(seconds=5)
    assert poll(client, kiosk, device_code)["error"] == "slow_down"  # 5 s < 10 s
    clock.advance(seconds=15)
    assert poll(client, kiosk, device_code)["error"] == "authorization_pending"  # 15 ≥ 15

    page = phone.get("/device", params={"user_code": user_code})
    assert "市民中心自助终端" in page.text and user_code in page.text
    assert "姓名和脱敏身份证号" in page.text  # the scopes, as the person reads them
    done = decide(phone, user_code, "allow")
    assert done.status_code == 200 and "请回到自助终端" in done.text

    clock.advance(seconds=20)
    tokens = poll(client, kiosk, device_code)
    assert tokens["_status"] == 200, tokens
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    assert tokens["scope"] == "openid profile offline_access"
    id_token = claims_of(tokens["id_token"])
    assert id_token["sub"] == world.citizen_subject and id_token["aud"] == kiosk.client_id
    access = claims_of(tokens["access_token"])
    assert access["sub"] == world.citizen_subject and access["client_id"] == kiosk.client_id
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200 and info.json()["sub"] == world.citizen_subject

    clock.advance(seconds=20)
    again = poll(client, kiosk, device_code)
    assert again["_status"] == 400 and again["error"] == "invalid_grant"
    # the page will not take a second answer either
    answered = phone.get("/device", params={"user_code": user_code})
    assert answered.status_code == 400 and 'name="decision"' not in answered.text


def test_refresh_after_device_grant(
    client: TestClient, phone: TestClient, kiosk: Kiosk, clock: FrozenClock
) -> None:
    started = start(client, kiosk)
    decide(phone, started["user_code"])
    tokens = poll(client, kiosk, started["device_code"])
    refreshed = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=kiosk.auth,
    )
    assert refreshed.status_code == 200 and refreshed.json()["id_token"]


def test_denied_request_gets_access_denied(
    client: TestClient, phone: TestClient, kiosk: Kiosk, services: Services, clock: FrozenClock
) -> None:
    started = start(client, kiosk)
    denied = decide(phone, started["user_code"], "deny")
    assert denied.status_code == 200 and "不会获得" in denied.text
    for _ in range(2):
        clock.advance(seconds=5)
        body = poll(client, kiosk, started["device_code"])
        assert body["_status"] == 400 and body["error"] == "access_denied"
    with services.sessions() as session:
        actions = set(session.scalars(select(AuditEntryRow.action)))
    assert "oauth.device_denied" in actions


def test_approval_is_audited(
    client: TestClient, phone: TestClient, kiosk: Kiosk, services: Services, world: World
) -> None:
    decide(phone, start(client, kiosk)["user_code"])
    with services.sessions() as session:
        rows = list(
            session.scalars(
                select(AuditEntryRow).where(AuditEntryRow.action == "oauth.device_approved")
            )
        )
    assert len(rows) == 1 and rows[0].actor == world.citizen_subject


def test_expired_device_code(
    client: TestClient, phone: TestClient, kiosk: Kiosk, clock: FrozenClock
) -> None:
    started = start(client, kiosk)
    clock.advance(seconds=599)
    assert poll(client, kiosk, started["device_code"])["error"] == "authorization_pending"
    clock.advance(seconds=2)
    expired = poll(client, kiosk, started["device_code"])
    assert expired["_status"] == 400 and expired["error"] == "expired_token"
    # nor can the person approve it any more
    page = phone.get("/device", params={"user_code": started["user_code"]})
    assert page.status_code == 400 and 'name="decision"' not in page.text


def test_approved_then_expired_is_expired(
    client: TestClient, phone: TestClient, kiosk: Kiosk, clock: FrozenClock
) -> None:
    started = start(client, kiosk)
    decide(phone, started["user_code"])
    clock.advance(seconds=601)
    assert poll(client, kiosk, started["device_code"])["error"] == "expired_token"


def test_another_client_cannot_poll_the_device_code(
    client: TestClient, phone: TestClient, kiosk: Kiosk, services: Services, clock: FrozenClock
) -> None:
    other = register_kiosk(services, "另一台终端")
    started = start(client, kiosk)
    decide(phone, started["user_code"])
    stolen = poll(client, other, started["device_code"])
    assert stolen["_status"] == 400 and stolen["error"] == "invalid_grant"
    # the rightful kiosk still gets its tokens
    assert poll(client, kiosk, started["device_code"])["_status"] == 200


def test_unknown_or_missing_device_code(client: TestClient, kiosk: Kiosk) -> None:
    assert poll(client, kiosk, "not-a-device-code")["error"] == "invalid_grant"
    missing = client.post("/token", data={"grant_type": DEVICE_CODE}, auth=kiosk.auth)
    assert missing.json()["error"] == "invalid_request"
    anonymous = client.post(
        "/token",
        data={"grant_type": DEVICE_CODE, "device_code": "x", "client_id": kiosk.client_id},
    )
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"


def test_other_clients_cannot_use_the_device_grant(
    client: TestClient, world: World, kiosk: Kiosk
) -> None:
    started = start(client, kiosk)
    response = client.post(
        "/token",
        data={"grant_type": DEVICE_CODE, "device_code": started["device_code"]},
        auth=(world.web_client_id, world.web_secret),
    )
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"


def test_typed_code_is_normalised(client: TestClient, phone: TestClient, kiosk: Kiosk) -> None:
    started = start(client, kiosk)
    entry = phone.get("/device")
    assert 'name="user_code"' in entry.text
    typed = started["user_code"].replace("-", " ").lower()
    page = phone.post("/device", data={"user_code": typed, "csrf": csrf_of(entry.text)})
    assert page.status_code == 200 and started["user_code"] in page.text
    assert 'name="decision"' in page.text


def test_user_code_guessing_is_limited(client: TestClient, phone: TestClient, kiosk: Kiosk) -> None:
    started = start(client, kiosk)
    real = started["user_code"]
    wrong = "BBBB-BBBB" if real != "BBBB-BBBB" else "CCCC-CCCC"
    for _ in range(GUESS_LIMIT_PER_PERSON):
        miss = phone.get("/device", params={"user_code": wrong})
        assert miss.status_code == 400 and "验证码不正确" in miss.text
    locked = phone.get("/device", params={"user_code": real})
    assert locked.status_code == 429 and 'name="decision"' not in locked.text
    entry = phone.get("/device")
    posted = phone.post("/device", data={"user_code": real, "csrf": csrf_of(entry.text)})
    assert posted.status_code == 429
    # the kiosk's request itself is untouched
    assert poll(client, kiosk, started["device_code"])["error"] == "authorization_pending"


def test_guesses_sent_at_once_count_against_the_limit(services: Services) -> None:
    """A look-up is counted before it is made: of twelve sent at the same moment by one
    person, only as many as the limit are made. Counted only after a miss, all twelve
    passed the check before the first miss was counted."""
    guesses = GuessLimit(services.idp.cache, services.idp.ctx)
    barrier = threading.Barrier(12)
    begun: list[bool] = []

    def guess() -> None:
        barrier.wait()
        begun.append(guesses.begin("person-1", "198.51.100.7"))

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert begun.count(True) == GUESS_LIMIT_PER_PERSON
    assert guesses.begin("person-1", "198.51.100.7") is False
    # a look-up that found its authorization is given back; a refused one was not counted
    guesses.found("person-1", "198.51.100.7")
    assert guesses.begin("person-1", "198.51.100.7") is True
    assert guesses.begin("person-1", "198.51.100.7") is False
    # the address has counted only the look-ups made
    for n in range(GUESS_LIMIT_PER_ADDRESS - GUESS_LIMIT_PER_PERSON):
        assert guesses.begin(f"person-{n + 2}", "198.51.100.7") is True, n
    assert guesses.begin("person-99", "198.51.100.7") is False
    assert guesses.begin("person-99", "203.0.113.9") is True


def test_approval_form_needs_its_csrf_token(
    client: TestClient, phone: TestClient, kiosk: Kiosk, services: Services
) -> None:
    started = start(client, kiosk)
    user_code = started["user_code"]
    forged = phone.post(
        "/device/approve", data={"user_code": user_code, "decision": "allow", "csrf": "forged"}
    )
    assert forged.status_code == 400
    # a page from another browser: its CSRF token does not match this browser's cookie
    other = TestClient(create_app(services=services), base_url=ISSUER)
    log_in(other)
    foreign = csrf_of(other.get("/device", params={"user_code": user_code}).text)
    crossed = phone.post(
        "/device/approve", data={"user_code": user_code, "decision": "allow", "csrf": foreign}
    )
    assert crossed.status_code == 400
    # a browser without the CSRF cookie (a cross-site form post) is refused too
    session_only = TestClient(create_app(services=services), base_url=ISSUER)
    session_only.cookies.set(
        "govtrust_session", phone.cookies.get("govtrust_session") or "", domain="govtrust.test"
    )
    page = phone.get("/device", params={"user_code": user_code})
    blind = session_only.post(
        "/device/approve",
        data={"user_code": user_code, "decision": "allow", "csrf": csrf_of(page.text)},
    )
    assert blind.status_code == 400
    assert poll(client, kiosk, started["device_code"])["error"] == "authorization_pending"
    entry = phone.post("/device", data={"user_code": user_code, "csrf": "forged"})
    assert entry.status_code == 400
    unknown_answer = phone.post(
        "/device/approve",
        data={"user_code": user_code, "decision": "maybe", "csrf": csrf_of(page.text)},
    )
    assert unknown_answer.status_code == 400
    assert poll(client, kiosk, started["device_code"])["error"] == "slow_down"  # still pending


def test_not_logged_in_logs_in_first_and_comes_back(
    client: TestClient, services: Services, kiosk: Kiosk
) -> None:
    started = start(client, kiosk)
    browser = TestClient(create_app(services=services), base_url=ISSUER)
    page = browser.get("/device", params={"user_code": started["user_code"]})
    assert 'name="password"' in page.text and 'name="decision"' not in page.text
    wrong = browser.post(
        f"/device/login?user_code={started['user_code']}",
        data={"username": CITIZEN_ID, "password": "wrong", "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert wrong.status_code == 200 and "账号或密码不正确" in wrong.text
    assert "govtrust_session" not in browser.cookies
    back = log_in(browser, started["user_code"])
    assert back.headers["location"] == f"/device?user_code={started['user_code']}"
    confirm = browser.get(back.headers["location"])
    assert 'name="decision"' in confirm.text and started["user_code"] in confirm.text
    # approving needs a login: without the session cookie the page asks to log in again
    anonymous = TestClient(create_app(services=services), base_url=ISSUER)
    entry = anonymous.get("/device")
    posted = anonymous.post(
        "/device/approve",
        data={"user_code": started["user_code"], "decision": "allow", "csrf": csrf_of(entry.text)},
    )
    assert 'name="password"' in posted.text
    assert poll(client, kiosk, started["device_code"])["error"] == "authorization_pending"


def test_english_page(client: TestClient, phone: TestClient, kiosk: Kiosk) -> None:
    started = start(client, kiosk)
    page = phone.get("/device", params={"user_code": started["user_code"], "lang": "en"})
    assert "Check that this code is the one on the kiosk screen" in page.text
