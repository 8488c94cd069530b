"""RFC 9700 (OAuth 2.0 Security BCP) and FAPI 2.0 attacks that tests/idp does not already
show (tests/security/README.md maps every requirement to its test). Each attack is refused,
and where it matters, on PostgreSQL + Redis as on the embedded backend."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select

from core.app import create_app
from core.services import Services
from idp.accounts.service import set_password
from idp.clients.channels import Channel
from idp.credentials.passwords import RECOMMENDED
from idp.credentials.throttle import LoginThrottle
from idp.grants.authorization_code import CodeGrant
from idp.logout import end_session_by_id
from idp.oauth.storage import GrantRow
from idp.routers import authorize
from tests.idp.oidc_helpers import (
    CITIZEN_ID,
    PASSWORD,
    REDIRECT,
    World,
    authorize_params,
    callback_params,
    client_service,
    csrf_of,
    follow,
    login_and_consent,
    pkce_pair,
)
from tests.idp.test_oauth_attacks import code_and_verifier, redeem

ISSUER = "https://govtrust.test"


def other_portal(services: Services) -> tuple[str, str]:
    """A second confidential client with the same redirect URI as the world's portal."""
    clients = client_service(services)
    registered, secret = clients.register(
        name="另一门户",
        channel=Channel.WEB,
        redirect_uris=[REDIRECT],
        scope="openid profile offline_access",
    )
    assert secret
    return registered.client_id, secret


# -- code injection and client impersonation (RFC 9700 §4.5, §4.10; RFC 6749 §4.1.3) --------


def test_code_issued_to_one_client_is_refused_to_another(
    client: TestClient, world: World, services: Services
) -> None:
    """An attacker client that got hold of a victim's code (same redirect URI, its own PKCE
    verifier stolen too) cannot redeem it with its own credentials."""
    code, verifier = code_and_verifier(client, world)
    other_id, other_secret = other_portal(services)
    stolen = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(other_id, other_secret),
    )
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    # and the rightful client can still redeem it: the attempt did not burn it
    assert redeem(client, world, code, verifier)["_status"] == 200


def test_confidential_client_must_authenticate_to_redeem(client: TestClient, world: World) -> None:
    """Only the client_id, a wrong secret, or another client's secret: invalid_client."""
    code, verifier = code_and_verifier(client, world)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    no_auth = client.post("/token", data={**form, "client_id": world.web_client_id})
    assert no_auth.status_code == 401 and no_auth.json()["error"] == "invalid_client"
    wrong = client.post("/token", data=form, auth=(world.web_client_id, world.web_secret + "x"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    borrowed = client.post("/token", data=form, auth=(world.web_client_id, world.service_secret))
    assert borrowed.status_code == 401 and borrowed.json()["error"] == "invalid_client"
    as_public = client.post(
        "/token", data={**form, "client_id": world.app_client_id}
    )  # the public app cannot pass itself off as the portal
    assert as_public.status_code in (400, 401)
    assert as_public.json()["error"] in ("invalid_grant", "invalid_client")
    assert redeem(client, world, code, verifier)["_status"] == 200


def test_refresh_token_of_another_client_is_refused(
    client: TestClient, world: World, services: Services
) -> None:
    code, verifier = code_and_verifier(client, world)
    tokens = redeem(client, world, code, verifier)
    other_id, other_secret = other_portal(services)
    stolen = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": str(tokens["refresh_token"])},
        auth=(other_id, other_secret),
    )
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"


# -- refresh token rotation race (RFC 9700 §4.14.2) -------------------------------------------


def test_two_concurrent_refreshes_with_one_token_exactly_one_wins(
    client: TestClient, world: World, backend: str
) -> None:
    """Two requests race with the same refresh token (a replay by an attacker racing the
    client, or a client retrying): exactly one gets new tokens, the other invalid_grant;
    never two fresh token families, never a 5xx. On SQLite and on PostgreSQL."""
    for _ in range(3):  # a few rounds: a race that slipped through once would show
        code, verifier = code_and_verifier(client, world)
        refresh = str(redeem(client, world, code, verifier)["refresh_token"])
        barrier = threading.Barrier(2)

        def refresh_once(_: int, token: str = refresh, gate: threading.Barrier = barrier) -> Any:
            gate.wait()
            return client.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": token},
                auth=(world.web_client_id, world.web_secret),
            )

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(refresh_once, range(2)))
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200, 400], [a.text for a in answers]
        loser = next(a for a in answers if a.status_code == 400)
        assert loser.json()["error"] == "invalid_grant"


def test_two_concurrent_redemptions_of_one_code_exactly_one_wins(
    client: TestClient, world: World, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests race with the same authorization code (RFC 6749 §4.1.2: a code is used
    once; RFC 9700 §4.2.4). Each request waits for the other after reading the code, so
    that both would read it unused if the read did not hold it: exactly one gets tokens,
    the other invalid_grant, and the reuse revokes the tokens the winner got."""
    meeting = threading.Barrier(2)
    read_code = CodeGrant.authenticate_user

    def slow_authenticate_user(grant: CodeGrant, code: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            meeting.wait(timeout=1)  # the other request, unless the code's row holds it
        return read_code(grant, code)

    monkeypatch.setattr(CodeGrant, "authenticate_user", slow_authenticate_user)
    code, verifier = code_and_verifier(client, world)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: redeem(client, world, code, verifier), (1, 2)))
    assert sorted(answer["_status"] for answer in answers) == [200, 400], answers
    loser = next(a for a in answers if a["_status"] == 400)
    assert loser["error"] == "invalid_grant"
    winner = next(a for a in answers if a["_status"] == 200)
    introspected = client.post(
        "/introspect",
        data={"token": winner["access_token"]},
        auth=(world.web_client_id, world.web_secret),
    )
    assert introspected.json() == {"active": False}


def _last_page_of_a_second_login(client: TestClient, world: World) -> str:
    """Where a second authorization by a logged-in person with a remembered consent ends:
    the page that records the grant and sends the code."""
    _, challenge = pkce_pair()
    callback_params(login_and_consent(client, authorize_params(world.web_client_id, challenge)))
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge, state="second")
    page = follow(client, client.get(f"/authorize?{urlencode(params)}", follow_redirects=False))
    assert 'name="acting_as"' in page.text  # logged in already: whom the person acts for
    action = re.search(r'action="([^"]+)"', page.text)
    assert action
    chosen = client.post(
        action.group(1),
        data={"acting_as": "self", "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    return str(chosen.headers["location"])


def test_an_interaction_finished_twice_at_once_gives_one_code(
    client: TestClient, world: World, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last page of a login (consent remembered) requested twice at once, say by a
    double click: each request waits for the other after reading the login, so both would
    go on to a grant if ending the interaction were not single-use. One gets a code; the
    other the page that says the login has ended."""
    last_page = _last_page_of_a_second_login(client, world)
    meeting = threading.Barrier(2)
    login_row = authorize._login_row

    def slow_login_row(*args: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            meeting.wait(timeout=1)  # the other request: both have read the interaction
        return login_row(*args)

    monkeypatch.setattr(authorize, "_login_row", slow_login_row)
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: client.get(last_page, follow_redirects=False), (1, 2)))
    assert sorted(a.status_code for a in answers) == [303, 400], [a.text[:200] for a in answers]
    back = callback_params(next(a for a in answers if a.status_code == 303))
    assert back["code"] and back["state"] == "second"


def test_a_logout_between_the_last_page_s_check_and_its_grant_leaves_no_grant(
    client: TestClient, world: World, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The person logs out (or an administrator ends the session) just after the last page
    found the login open: the grant's own transaction reads the session again, and makes
    no grant for a session that has ended (nothing a logout could have missed)."""
    last_page = _last_page_of_a_second_login(client, world)
    login_row = authorize._login_row

    def login_row_then_logout(session: Any, public_id: str | None) -> Any:
        found = login_row(session, public_id)
        assert public_id is not None
        end_session_by_id(services.idp, public_id, actor="test")
        return found

    monkeypatch.setattr(authorize, "_login_row", login_row_then_logout)
    with services.sessions() as session:
        grants_before = len(session.scalars(select(GrantRow)).all())
    answer = client.get(last_page, follow_redirects=False)
    assert answer.status_code == 400 and "location" not in answer.headers
    with services.sessions() as session:
        grants = session.scalars(select(GrantRow)).all()
    assert len(grants) == grants_before and all(g.revoked_at is not None for g in grants)


# -- JWT alg confusion, kid / jku / jwk / x5u injection (RFC 8725 §2.1, §3.1) ----------------


def _claims_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def test_header_named_keys_are_never_trusted(client: TestClient, world: World) -> None:
    """A token signed by the attacker's own key, which the header points to (``jku``,
    ``x5u``), carries (``jwk``) or names by an injected ``kid``: all refused. The service
    only ever uses its own published keys, chosen by an exact ``kid``."""
    code, verifier = code_and_verifier(client, world)
    genuine = str(redeem(client, world, code, verifier)["access_token"])
    claims = _claims_of(genuine)
    attacker = ECKey.generate_key("P-256", private=True)
    public = attacker.as_dict(private=False)
    rsa = RSAKey.generate_key(2048, private=True)
    headers: list[dict[str, Any]] = [
        {"alg": "ES256", "typ": "at+jwt", "jku": "https://evil.example/jwks.json"},
        {"alg": "ES256", "typ": "at+jwt", "jwk": public},
        {"alg": "ES256", "typ": "at+jwt", "x5u": "https://evil.example/cert.pem"},
        {"alg": "ES256", "typ": "at+jwt", "kid": "../../../../dev/null"},
        {"alg": "ES256", "typ": "at+jwt", "kid": "' OR '1'='1"},
        {"alg": "ES256", "typ": "at+jwt", "kid": ""},
    ]
    forged = [jwt.encode(header, claims, attacker) for header in headers]
    forged.append(
        jwt.encode(
            {"alg": "RS256", "typ": "at+jwt", "jwk": rsa.as_dict(private=False)}, claims, rsa
        )
    )
    genuine_kid = json.loads(base64.urlsafe_b64decode(genuine.split(".")[0] + "=="))["kid"]
    # the service's own kid on the attacker's signature (key confusion by kid)
    forged.append(
        jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": genuine_kid}, claims, attacker)
    )
    for token in forged:
        answer = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, token
        me = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401, token
    assert (
        client.get("/userinfo", headers={"Authorization": f"Bearer {genuine}"}).status_code == 200
    )


# -- CSRF on login and consent (RFC 6749 §10.12; RFC 9700 §4.7) --------------------------------


def _interaction_page(browser: TestClient, world: World) -> httpx.Response:
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge)
    return follow(browser, browser.get(f"/authorize?{urlencode(params)}", follow_redirects=False))


def _action(page: httpx.Response) -> str:
    match = re.search(r'action="([^"]+)"', page.text)
    assert match, page.text[:300]
    return match.group(1)


def test_consent_and_identity_forms_need_their_csrf_token(client: TestClient, world: World) -> None:
    page = _interaction_page(client, world)
    posted = client.post(
        _action(page),
        data={"username": CITIZEN_ID, "password": PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    page = follow(client, posted)
    assert 'name="acting_as"' in page.text
    for forged in ("", "forged", csrf_of(page.text)[:-1]):
        refused = client.post(
            _action(page), data={"acting_as": "self", "csrf": forged}, follow_redirects=False
        )
        assert refused.status_code in (400, 422) and "location" not in refused.headers
    page = follow(
        client,
        client.post(
            _action(page),
            data={"acting_as": "self", "csrf": csrf_of(page.text)},
            follow_redirects=False,
        ),
    )
    assert 'name="consent"' in page.text
    refused = client.post(
        _action(page), data={"consent": "allow", "csrf": "forged"}, follow_redirects=False
    )
    assert refused.status_code == 400 and "location" not in refused.headers
    granted = client.post(
        _action(page), data={"consent": "allow", "csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert "code" in callback_params(granted)


def test_login_csrf_another_browsers_interaction_is_refused(
    client: TestClient, world: World, services: Services
) -> None:
    """Login CSRF: the attacker starts a login in their own browser and makes the victim's
    browser post the attacker's credentials to it. The interaction belongs to the browser
    that started it: the victim's browser cannot complete it, nor get a session from it."""
    attacker_page = _interaction_page(client, world)
    victim = TestClient(client.app, base_url=ISSUER)
    posted = victim.post(
        _action(attacker_page),
        data={"username": CITIZEN_ID, "password": PASSWORD, "csrf": csrf_of(attacker_page.text)},
        follow_redirects=False,
    )
    assert posted.status_code in (400, 403, 404), posted.status_code
    assert not victim.cookies, victim.cookies


# -- clickjacking (RFC 6749 §10.13; RFC 9700 §4.16) --------------------------------------------


def _assert_unframeable(response: httpx.Response) -> None:
    assert response.headers["x-frame-options"] == "DENY", response.request.url
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_every_html_page_forbids_framing(
    client: TestClient, world: World, services: Services
) -> None:
    """Every page the provider, the seal service and the verifier show, including error
    pages, carries X-Frame-Options: DENY and CSP frame-ancestors 'none'."""
    pages: list[httpx.Response] = []

    def keep(response: httpx.Response) -> None:
        response.read()
        if response.headers.get("content-type", "").startswith("text/html"):
            pages.append(response)

    client.event_hooks = {"request": [], "response": [keep]}
    callback_params(
        login_and_consent(client, authorize_params(world.web_client_id, pkce_pair()[1]))
    )
    client.get("/authorize?client_id=nobody")  # error page
    client.get("/interaction/unknown")  # expired interaction
    client.get("/logout")  # logout confirmation
    client.get("/device")  # device verification page
    client.get("/verify")  # licence verification page
    client.get(f"/verify?{urlencode({'q': 'garbage'})}")
    client.get("/signatures/validate")  # validation report form
    assert len({page.request.url.path for page in pages}) >= 5, [p.request.url for p in pages]
    for page in pages:
        _assert_unframeable(page)


# -- user enumeration by timing (RFC 9700 §4.15 spirit; OWASP ASVS 2.2) ------------------------

ROUNDS = 12
UNKNOWN_IDS = ("440305199001010050", "350102198001010011", "110105194912310021")


def test_login_time_does_not_reveal_who_exists(world: World, services: Services) -> None:
    """The median time of a failed login with a registered ID number and with an unknown
    one differ by less than a third of the slower one (the password hash is computed for
    unknown users too). The production hash cost is used, so that the hash dominates the
    time: a missing dummy hash would make unknown users many times faster. Medians over
    interleaved tries keep this robust on a busy machine."""
    services.idp.password_parameters = RECOMMENDED
    set_password(services.idp, world.citizen_id, PASSWORD)  # hashed at the production cost
    services.idp.throttle = LoginThrottle(
        services.cache,
        clock=services.idp.ctx.clock,
        per_account_limit=10_000,
        per_ip_limit=10_000,
        base_delay=0,
        max_delay=0,
    )
    browser = TestClient(create_app(services=services), base_url=ISSUER)
    page = _interaction_page(browser, world)
    action, csrf = _action(page), csrf_of(page.text)

    def attempt(username: str) -> float:
        started = time.perf_counter()
        answer = browser.post(
            action,
            data={"username": username, "password": "Wrong-Password-1", "csrf": csrf},
            follow_redirects=False,
        )
        elapsed = time.perf_counter() - started
        assert answer.status_code == 200, answer.status_code  # the form again, with an error
        return elapsed

    attempt(CITIZEN_ID)  # warm up
    known: list[float] = []
    unknown: list[float] = []
    for round_ in range(ROUNDS):
        known.append(attempt(CITIZEN_ID))
        unknown.append(attempt(UNKNOWN_IDS[round_ % len(UNKNOWN_IDS)]))
    slow, fast = (
        max(statistics.median(known), statistics.median(unknown)),
        min(statistics.median(known), statistics.median(unknown)),
    )
    assert slow - fast < slow / 3, (statistics.median(known), statistics.median(unknown))
