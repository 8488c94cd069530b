"""Levels of assurance: ``acr_values`` asks for two factors, the session steps up with a
TOTP code (RFC 6238) or an SMS code, and the ID token says so (``acr``, ``amr``)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pyotp
from fastapi.testclient import TestClient

from core.app import create_app
from core.services import Services
from idp.oauth.storage import ConsentRow
from idp.second_factor import enrol_totp
from tests.conftest import FrozenClock
from tests.idp.oidc_helpers import (
    ACCOUNT_TOKEN_SCOPE,
    REDIRECT,
    World,
    authorize_params,
    callback_params,
    csrf_of,
    login_and_consent,
    pkce_pair,
)

LOA2 = "urn:govtrust:loa:2"


def second_factor_page(
    client: TestClient, world: World, challenge: str, scope: str = "openid profile"
) -> str:
    params = authorize_params(world.web_client_id, challenge, scope=scope, acr_values=LOA2)
    page = login_and_consent(client, params)
    assert page.status_code == 200 and 'name="otp"' in page.text, page.text[:300]
    return page.text


def submit(client: TestClient, page: str, method: str, code: str):  # type: ignore[no-untyped-def]
    action = re.search(r'action="(/interaction/[^"/]+)/second-factor"', page)
    assert action
    return client.post(
        f"{action.group(1)}/second-factor",
        data={"method": method, "otp": code, "csrf": csrf_of(page)},
        follow_redirects=False,
    )


def finish(client: TestClient, response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    page = client.get(response.headers["location"], follow_redirects=False)
    for field, value in (("acting_as", "self"), ("consent", "allow")):
        if f'name="{field}"' in page.text:
            action = re.search(r'action="([^"]+)"', page.text)
            assert action
            page = client.post(
                action.group(1),
                data={field: value, "csrf": csrf_of(page.text)},
                follow_redirects=False,
            )
            if page.status_code == 303 and not page.headers["location"].startswith(REDIRECT):
                page = client.get(page.headers["location"], follow_redirects=False)
    return callback_params(page)


def redeem(client: TestClient, world: World, code: str, verifier: str) -> dict[str, object]:
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(world.web_client_id, world.web_secret),
    )
    assert response.status_code == 200, response.text
    claims = response.json()["id_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))  # type: ignore[no-any-return]


def test_totp_steps_up_and_a_code_is_used_once(
    client: TestClient, world: World, services: Services, clock: FrozenClock
) -> None:
    secret, uri = enrol_totp(services.idp, world.citizen_id, "张三")
    assert uri.startswith("otpauth://totp/")
    verifier, challenge = pkce_pair()
    page = second_factor_page(client, world, challenge)
    wrong = submit(client, page, "totp", "000000")
    assert wrong.status_code == 200 and "验证码不正确" in wrong.text
    code = pyotp.TOTP(secret).at(clock.now)
    accepted = submit(client, page, "totp", code)
    assert accepted.status_code == 303
    back = finish(client, accepted)
    id_token = redeem(client, world, back["code"], verifier)
    assert id_token["acr"] == LOA2
    assert "otp" in id_token["amr"] and "mfa" in id_token["amr"]  # type: ignore[operator]
    # the same code cannot step up another session (replay)
    other = TestClient(create_app(services=services), base_url="https://govtrust.test")
    _, challenge2 = pkce_pair()
    page2 = second_factor_page(other, world, challenge2)
    assert "验证码不正确" in submit(other, page2, "totp", code).text


def test_sms_code_from_the_outbox(client: TestClient, world: World, services: Services) -> None:
    verifier, challenge = pkce_pair()
    page = second_factor_page(client, world, challenge)
    action = re.search(r'action="(/interaction/[^"/]+)/sms"', page)
    assert action
    sent = client.post(f"{action.group(1)}/sms", data={"csrf": csrf_of(page)})
    assert sent.status_code == 200 and "验证码已发送" in sent.text
    again = client.post(f"{action.group(1)}/sms", data={"csrf": csrf_of(page)})
    assert "秒后再发送" in again.text
    outbox = Path(services.settings.data_dir) / "outbox.jsonl"
    message = json.loads(outbox.read_text(encoding="utf-8").splitlines()[-1])["message"]
    code = re.search(r"\d{6}", message)
    assert code
    accepted = submit(client, page, "sms", code.group(0))
    assert accepted.status_code == 303
    id_token = redeem(client, world, finish(client, accepted)["code"], verifier)
    assert id_token["acr"] == LOA2 and "sms" in id_token["amr"]  # type: ignore[operator]


def test_the_step_up_is_not_skipped_by_posting_the_consent_form(
    client: TestClient, world: World, services: Services
) -> None:
    """The second-factor page carries the interaction's form token; posting it to the
    consent form must not get a code at the password's level (OpenID Connect Core
    §3.1.2.1: the client asked for two factors)."""
    _, challenge = pkce_pair()
    page = second_factor_page(client, world, challenge)
    action = re.search(r'action="(/interaction/[^"/]+)/second-factor"', page)
    assert action
    interaction = action.group(1)
    with services.sessions() as session:
        consents = session.query(ConsentRow).count()
    for field, value in (("acting_as", "self"), ("consent", "allow")):
        endpoint = "identity" if field == "acting_as" else "consent"
        posted = client.post(
            f"{interaction}/{endpoint}",
            data={field: value, "csrf": csrf_of(page)},
            follow_redirects=False,
        )
        assert posted.status_code == 303
        assert posted.headers["location"] == interaction  # back to the step-up, no code
    assert 'name="otp"' in client.get(interaction).text
    with services.sessions() as session:
        assert session.query(ConsentRow).count() == consents  # no consent recorded
    # declining needs no second factor: the client hears access_denied
    declined = client.post(
        f"{interaction}/consent",
        data={"consent": "deny", "csrf": csrf_of(page)},
        follow_redirects=False,
    )
    assert callback_params(declined)["error"] == "access_denied"


def test_a_password_session_is_stepped_up_not_replaced(
    client: TestClient, world: World, services: Services, clock: FrozenClock
) -> None:
    secret, _ = enrol_totp(services.idp, world.citizen_id, "张三")
    _, challenge = pkce_pair()
    first = login_and_consent(client, authorize_params(world.web_client_id, challenge))
    assert callback_params(first)["code"]  # loa:1 session exists
    _, challenge2 = pkce_pair()
    params = authorize_params(world.web_client_id, challenge2, acr_values=LOA2)
    start = client.get("/authorize", params=params, follow_redirects=False)
    page = client.get(start.headers["location"], follow_redirects=False)
    assert 'name="password"' not in page.text and 'name="otp"' in page.text
    clock.advance(seconds=31)
    accepted = submit(client, page.text, "totp", pyotp.TOTP(secret).at(clock.now))
    assert accepted.status_code == 303


def test_a_person_enrols_totp_and_then_steps_up_with_it(
    client: TestClient, world: World, services: Services, clock: FrozenClock
) -> None:
    verifier, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge, scope=ACCOUNT_TOKEN_SCOPE)
    back = callback_params(login_and_consent(client, params))
    token = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(world.web_client_id, world.web_secret),
    ).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    started = client.post("/me/totp", headers=headers)
    assert started.status_code == 200 and started.headers["cache-control"] == "no-store"
    secret = started.json()["secret"]
    wrong = client.post("/me/totp/confirm", headers=headers, json={"code": "000000"})
    assert wrong.status_code == 422
    code = pyotp.TOTP(secret).at(clock.now)
    assert client.post("/me/totp/confirm", headers=headers, json={"code": code}).status_code == 204
    clock.advance(seconds=30)
    _, challenge2 = pkce_pair()
    page = second_factor_page(client, world, challenge2)
    assert submit(client, page, "totp", pyotp.TOTP(secret).at(clock.now)).status_code == 303


def test_the_demo_outbox_exists_only_in_development(client: TestClient) -> None:
    assert client.get("/demo/outbox").status_code == 404  # the test environment


def test_the_demo_outbox_shows_sent_codes_in_development(services: Services, world: World) -> None:
    services.settings = services.settings.model_copy(update={"environment": "development"})
    services.idp.otp.send("login", world.citizen_id, "13800138000", "验证码{code}")
    page = TestClient(create_app(services=services)).get("/demo/outbox")
    assert page.status_code == 200
    assert "138****8000" in page.text and re.search(r"验证码\d{6}", page.text)
    assert "13800138000" not in page.text
