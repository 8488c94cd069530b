"""OpenID Connect CIBA (Client-Initiated Backchannel Authentication Core 1.0) for the counter
and the 12345 hotline, poll and ping modes: each rule beside its refusal (unknown person,
bad hint, expiry, polling too fast, denial, reuse, another client polling)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.app import create_app
from core.audit.storage import AuditEntryRow
from core.db.base import Base
from core.identifiers.resident_id import check_digit
from core.services import Services
from idp.clients.channels import CIBA, Channel
from idp.clients.service import InvalidClientMetadata
from idp.oauth.ciba import CibaRequestRow
from tests.conftest import FrozenClock
from tests.idp.oidc_helpers import CITIZEN_ID, PASSWORD, World, build_world, client_service, csrf_of
from tests.idp.test_device_grant import claims_of

ISSUER = "https://govtrust.test"
CALLBACK = "https://hotline.example.gov.cn/ciba/notify"
UNREGISTERED_ID = "11010519800101001" + check_digit("11010519800101001")
BAD_CHECK_DIGIT = CITIZEN_ID[:-1] + ("0" if CITIZEN_ID[-1] != "0" else "1")


@dataclass
class Desk:
    client_id: str
    secret: str

    @property
    def auth(self) -> tuple[str, str]:
        return self.client_id, self.secret


@pytest.fixture
def world(services: Services) -> World:
    return build_world(services)


@pytest.fixture
def counter(services: Services, world: World) -> Desk:
    registered, secret = client_service(services).register(
        name="市民中心窗口", channel=Channel.COUNTER, scope="openid profile"
    )
    assert secret and CIBA in registered.grant_types
    assert registered.backchannel_token_delivery_mode == "poll"
    return Desk(registered.client_id, secret)


@pytest.fixture
def hotline(services: Services, world: World) -> Desk:
    registered, secret = client_service(services).register(
        name="12345热线",
        channel=Channel.HOTLINE,
        scope="openid profile",
        backchannel_token_delivery_mode="ping",
        backchannel_client_notification_endpoint=CALLBACK,
    )
    assert secret
    return Desk(registered.client_id, secret)


@pytest.fixture
def pings(services: Services) -> list[httpx.Request]:
    received: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    services.idp.http = httpx.Client(transport=httpx.MockTransport(handler))
    return received


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    yield TestClient(create_app(services=services), base_url=ISSUER)


def start(client: TestClient, desk: Desk, **form: str) -> dict[str, Any]:
    data = {"scope": "openid profile", "login_hint": CITIZEN_ID, **form}
    response = client.post("/bc-authorize", data=data, auth=desk.auth)
    body: dict[str, Any] = response.json()
    body["_status"] = response.status_code
    return body


def poll(client: TestClient, desk: Desk, auth_req_id: str) -> dict[str, Any]:
    response = client.post(
        "/token", data={"grant_type": CIBA, "auth_req_id": auth_req_id}, auth=desk.auth
    )
    body: dict[str, Any] = response.json()
    body["_status"] = response.status_code
    return body


def last_sms(services: Services) -> str:
    outbox = Path(services.settings.data_dir) / "outbox.jsonl"
    message: str = json.loads(outbox.read_text(encoding="utf-8").splitlines()[-1])["message"]
    return message


def sms_link_and_code(services: Services) -> tuple[str, str]:
    message = last_sms(services)
    link = re.search(rf"{re.escape(ISSUER)}(/ciba/[0-9a-f]+)", message)
    code = re.search(r"验证码(\d{6})", message)
    assert link and code, message
    return link.group(1), code.group(1)


def logged_in_browser(services: Services) -> TestClient:
    browser = TestClient(create_app(services=services), base_url=ISSUER)
    page = browser.get("/ciba")
    assert 'name="password"' in page.text
    posted = browser.post(
        "/ciba/login",
        data={"username": CITIZEN_ID, "password": PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text
    return browser


def answer_in_app(browser: TestClient, decision: str = "allow") -> httpx.Response:
    page = browser.get("/ciba")
    found = re.search(r'name="request_id" value="([0-9a-f]+)"', page.text)
    assert found, page.text
    return browser.post(
        "/ciba/decide",
        data={"request_id": found.group(1), "decision": decision, "csrf": csrf_of(page.text)},
    )


def answer_with_code(
    client: TestClient, services: Services, decision: str = "allow", code: str | None = None
) -> httpx.Response:
    link, sent = sms_link_and_code(services)
    page = client.get(link)
    assert page.status_code == 200 and 'name="code"' in page.text
    return client.post(
        link, data={"code": code or sent, "decision": decision, "csrf": csrf_of(page.text)}
    )


# -- discovery and registration ------------------------------------------------------------


def test_discovery_describes_ciba(client: TestClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").json()
    assert metadata["backchannel_authentication_endpoint"] == f"{ISSUER}/bc-authorize"
    assert metadata["backchannel_token_delivery_modes_supported"] == ["poll", "ping"]
    assert metadata["backchannel_user_code_parameter_supported"] is False
    assert CIBA in metadata["grant_types_supported"]


def test_registration_checks_the_delivery_mode(services: Services, world: World) -> None:
    service = client_service(services)
    with pytest.raises(InvalidClientMetadata):
        service.register(
            name="热线", channel=Channel.HOTLINE, backchannel_token_delivery_mode="ping"
        )
    with pytest.raises(InvalidClientMetadata):
        service.register(
            name="热线",
            channel=Channel.HOTLINE,
            backchannel_token_delivery_mode="ping",
            backchannel_client_notification_endpoint="http://hotline.example/cb",
        )
    with pytest.raises(InvalidClientMetadata):
        service.register(
            name="热线", channel=Channel.HOTLINE, backchannel_token_delivery_mode="push"
        )
    with pytest.raises(InvalidClientMetadata):  # only counter and hotline have the grant
        service.register(
            name="门户",
            channel=Channel.WEB,
            redirect_uris=["https://portal.example/cb"],
            grant_types=[CIBA],
        )


# -- poll mode ------------------------------------------------------------------------------


def test_poll_mode_approved_in_the_app(
    client: TestClient, counter: Desk, services: Services, clock: FrozenClock, world: World
) -> None:
    started = start(client, counter, binding_message="窗口 A12", staff_id="W-0427")
    assert started["_status"] == 200, started
    assert started["expires_in"] == 300 and started["interval"] == 5
    auth_req_id = started["auth_req_id"]
    assert len(auth_req_id) >= 43
    pending = poll(client, counter, auth_req_id)
    assert pending["_status"] == 400 and pending["error"] == "authorization_pending"

    browser = logged_in_browser(services)
    page = browser.get("/ciba")
    assert "窗口 A12" in page.text and "市民中心窗口" in page.text
    done = answer_in_app(browser)
    assert done.status_code == 200 and "已确认" in done.text
    assert "窗口 A12" not in browser.get("/ciba").text  # answered: no longer pending

    clock.advance(seconds=5)
    tokens = poll(client, counter, auth_req_id)
    assert tokens["_status"] == 200, tokens
    assert tokens["token_type"] == "Bearer" and "refresh_token" not in tokens
    access = claims_of(tokens["access_token"])
    assert access["sub"] == world.citizen_subject
    assert access["act"] == {"client_id": counter.client_id, "staff_id": "W-0427"}
    assert access["client_id"] == counter.client_id
    id_token = claims_of(tokens["id_token"])
    assert id_token["sub"] == world.citizen_subject and id_token["aud"] == counter.client_id
    # the token opens userinfo
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200 and info.json()["act"]["staff_id"] == "W-0427"

    # single use: the same auth_req_id again
    clock.advance(seconds=5)
    again = poll(client, counter, auth_req_id)
    assert again["_status"] == 400 and again["error"] == "invalid_grant"


def test_without_a_staff_member_the_counter_alone_is_the_actor(
    client: TestClient, counter: Desk, services: Services, clock: FrozenClock
) -> None:
    started = start(client, counter)
    answer_with_code(client, services)
    tokens = poll(client, counter, started["auth_req_id"])
    assert tokens["_status"] == 200, tokens
    access = claims_of(tokens["access_token"])
    assert access["act"] == {"client_id": counter.client_id}
    assert access["amr"] == ["sms"]


def test_polling_too_fast_slows_down(client: TestClient, counter: Desk, clock: FrozenClock) -> None:
    auth_req_id = start(client, counter)["auth_req_id"]
    assert poll(client, counter, auth_req_id)["error"] == "authorization_pending"
    clock.advance(seconds=2)
    assert poll(client, counter, auth_req_id)["error"] == "slow_down"
    clock.advance(seconds=6)  # the interval is now 10 s
    assert poll(client, counter, auth_req_id)["error"] == "slow_down"
    clock.advance(seconds=15)
    assert poll(client, counter, auth_req_id)["error"] == "authorization_pending"


def test_denied_with_the_sms_code(
    client: TestClient, counter: Desk, services: Services, clock: FrozenClock
) -> None:
    auth_req_id = start(client, counter, binding_message="A12")["auth_req_id"]
    message = last_sms(services)
    assert "市民中心窗口" in message and "A12" in message
    assert CITIZEN_ID not in message
    wrong = answer_with_code(client, services, code="000000")
    assert wrong.status_code == 400
    assert poll(client, counter, auth_req_id)["error"] == "authorization_pending"
    denied = answer_with_code(client, services, decision="deny")
    assert denied.status_code == 200 and "已拒绝" in denied.text
    clock.advance(seconds=5)
    refused = poll(client, counter, auth_req_id)
    assert refused["_status"] == 403 and refused["error"] == "access_denied"
    link, _ = sms_link_and_code(services)
    assert client.get(link).status_code == 404  # answered: the page is gone


def test_expired_request(
    client: TestClient, counter: Desk, services: Services, clock: FrozenClock
) -> None:
    auth_req_id = start(client, counter, requested_expiry="120")["auth_req_id"]
    clock.advance(seconds=121)
    assert poll(client, counter, auth_req_id)["error"] == "expired_token"
    link, _ = sms_link_and_code(services)
    assert client.get(link).status_code == 404  # too late to answer
    browser = logged_in_browser(services)
    assert 'name="request_id"' not in browser.get("/ciba").text


def test_another_client_cannot_poll(
    client: TestClient, counter: Desk, services: Services, world: World
) -> None:
    auth_req_id = start(client, counter)["auth_req_id"]
    other, secret = client_service(services).register(name="另一个窗口", channel=Channel.COUNTER)
    assert secret
    stolen = poll(client, Desk(other.client_id, secret), auth_req_id)
    assert stolen["_status"] == 400 and stolen["error"] == "invalid_grant"
    made_up = poll(client, counter, "x" * 43)
    assert made_up["error"] == "invalid_grant"
    kiosk_like = client.post(
        "/token",
        data={"grant_type": CIBA, "auth_req_id": auth_req_id},
        auth=(world.web_client_id, world.web_secret),
    )
    assert kiosk_like.json()["error"] == "unauthorized_client"


def test_person_must_be_known_and_the_hint_valid(
    client: TestClient, counter: Desk, services: Services
) -> None:
    unknown = start(client, counter, login_hint=UNREGISTERED_ID)
    assert unknown["_status"] == 400 and unknown["error"] == "unknown_user_id"
    bad = start(client, counter, login_hint=BAD_CHECK_DIGIT)
    assert bad["_status"] == 400 and bad["error"] == "invalid_request"
    malformed = start(client, counter, login_hint="1234")
    assert malformed["error"] == "invalid_request"
    missing = client.post("/bc-authorize", data={"scope": "openid"}, auth=counter.auth)
    assert missing.json()["error"] == "invalid_request"
    other_hint = start(client, counter, id_token_hint="eyJ.x.y")
    assert other_hint["error"] == "invalid_request"
    for body in (unknown, bad, malformed):
        assert UNREGISTERED_ID not in json.dumps(body) and BAD_CHECK_DIGIT not in json.dumps(body)
    # the ID number is stored nowhere in clear: not in the request rows, not in the trail
    start(client, counter)
    with services.sessions() as session:
        rows = list(session.scalars(select(CibaRequestRow)))
        audit = [
            json.dumps(row.details) if hasattr(row, "details") else repr(row.__dict__)
            for row in session.scalars(select(AuditEntryRow))
        ]
    assert len(rows) == 1
    assert CITIZEN_ID not in repr([r.__dict__ for r in rows])
    assert not any(CITIZEN_ID in entry for entry in audit)


def test_request_checks(client: TestClient, counter: Desk, world: World) -> None:
    no_openid = start(client, counter, scope="profile")
    assert no_openid["error"] == "invalid_scope"
    wider = start(client, counter, scope="openid phone")
    assert wider["error"] == "invalid_scope"
    link = start(client, counter, binding_message="visit https://evil.example")
    assert link["error"] == "invalid_binding_message"
    too_long = start(client, counter, binding_message="码" * 33)
    assert too_long["error"] == "invalid_binding_message"
    bad_staff = start(client, counter, staff_id="W 1/2")
    assert bad_staff["error"] == "invalid_request"
    expiry = start(client, counter, requested_expiry="-5")
    assert expiry["error"] == "invalid_request"
    user_code = start(client, counter, user_code="1234")
    assert user_code["error"] == "invalid_request"
    capped = start(client, counter, requested_expiry="86400")
    assert capped["_status"] == 200 and capped["expires_in"] == 600


def test_client_authentication_and_grant(client: TestClient, counter: Desk, world: World) -> None:
    anonymous = client.post(
        "/bc-authorize",
        data={"scope": "openid", "login_hint": CITIZEN_ID, "client_id": counter.client_id},
    )
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    wrong = client.post(
        "/bc-authorize",
        data={"scope": "openid", "login_hint": CITIZEN_ID},
        auth=(counter.client_id, "wrong"),
    )
    assert wrong.status_code == 401
    portal = client.post(
        "/bc-authorize",
        data={"scope": "openid", "login_hint": CITIZEN_ID},
        auth=(world.web_client_id, world.web_secret),
    )
    assert portal.json()["error"] == "unauthorized_client"
    in_query = client.post(
        f"/bc-authorize?login_hint={CITIZEN_ID}", data={"scope": "openid"}, auth=counter.auth
    )
    assert in_query.json()["error"] == "invalid_request"  # never from the URL


def test_only_the_person_named_can_answer(
    client: TestClient, counter: Desk, services: Services, world: World
) -> None:
    from idp.identities.service import IdentityService

    ctx = services.idp.ctx
    other_id = "35010219800101002" + check_digit("35010219800101002")
    other = IdentityService(services.sessions, services.identifiers, services.audit, ctx.clock)
    other.register_person(other_id, "王五", "13700137000", actor="test")
    start(client, counter, login_hint=other_id, binding_message="B7")
    browser = logged_in_browser(services)  # the citizen, not the person named
    page = browser.get("/ciba")
    assert "B7" not in page.text and 'name="request_id"' not in page.text
    link, _ = sms_link_and_code(services)
    request_id = link.rsplit("/", 1)[1]
    csrf = csrf_of(browser.get(link).text)  # the same cookie, so the same CSRF value
    forged = browser.post(
        "/ciba/decide", data={"request_id": request_id, "decision": "allow", "csrf": csrf}
    )
    assert forged.status_code == 400
    no_csrf = browser.post("/ciba/decide", data={"request_id": request_id, "decision": "allow"})
    assert no_csrf.status_code in (400, 422)


# -- ping mode ------------------------------------------------------------------------------


def test_ping_mode_notifies_the_client(
    client: TestClient,
    hotline: Desk,
    services: Services,
    pings: list[httpx.Request],
    clock: FrozenClock,
) -> None:
    missing = start(client, hotline)
    assert missing["error"] == "invalid_request"  # ping needs client_notification_token
    started = start(client, hotline, client_notification_token="ntf-" + "a" * 40)
    auth_req_id = started["auth_req_id"]
    assert pings == []
    assert answer_with_code(client, services).status_code == 200
    assert len(pings) == 1
    ping = pings[0]
    assert str(ping.url) == CALLBACK and ping.method == "POST"
    assert ping.headers["authorization"] == "Bearer ntf-" + "a" * 40
    assert json.loads(ping.content) == {"auth_req_id": auth_req_id}
    tokens = poll(client, hotline, auth_req_id)
    assert tokens["_status"] == 200, tokens
    assert claims_of(tokens["access_token"])["act"] == {"client_id": hotline.client_id}


def test_ping_mode_notifies_a_denial_too(
    client: TestClient, hotline: Desk, services: Services, pings: list[httpx.Request]
) -> None:
    auth_req_id = start(client, hotline, client_notification_token="t" * 32)["auth_req_id"]
    browser = logged_in_browser(services)
    answer_in_app(browser, "deny")
    assert [json.loads(p.content)["auth_req_id"] for p in pings] == [auth_req_id]
    assert poll(client, hotline, auth_req_id)["error"] == "access_denied"


def test_a_failing_ping_does_not_lose_the_tokens(
    client: TestClient, hotline: Desk, services: Services
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down", request=request)

    services.idp.http = httpx.Client(transport=httpx.MockTransport(down))
    auth_req_id = start(client, hotline, client_notification_token="t" * 32)["auth_req_id"]
    assert answer_with_code(client, services).status_code == 200
    assert poll(client, hotline, auth_req_id)["_status"] == 200


# -- the table matches its migration -------------------------------------------------------


def test_models_match_the_migrations(services: Services) -> None:
    with services.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        diff = compare_metadata(context, Base.metadata)
    ours = [d for d in diff if "ciba_requests" in repr(d) or "oauth_clients" in repr(d)]
    assert ours == []
