"""Logging in to the console through the provider (authorization code + PKCE S256), its
server-side session behind an HttpOnly/Secure/SameSite cookie, and logging out of both."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select

from console.client import CLIENT_ID
from console.deps import _refreshed, store_of
from console.session import COOKIE
from idp.oauth.storage import GrantRow
from tests.conftest import FrozenClock
from tests.console.conftest import Demo, csrf_of, log_in


def _set_cookies(response: object) -> list[str]:
    return response.headers.get_list("set-cookie")  # type: ignore[attr-defined, no-any-return]


def test_a_citizen_logs_in_through_the_provider_and_lands_on_the_console(
    demo: Demo, browser: TestClient
) -> None:
    home = log_in(browser, demo, "citizen")
    assert home.status_code == 200, home.text[:500]
    assert "您好，张三" in home.text
    assert home.headers["cache-control"] == "no-store"
    assert home.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]


def test_the_authorization_request_uses_pkce_s256_state_and_nonce(
    demo: Demo, browser: TestClient
) -> None:
    start = browser.get("/console/", follow_redirects=False)
    assert start.status_code == 303
    assert start.headers["location"] == "/console/login?next=%2Fconsole%2F"
    login = browser.get(start.headers["location"], follow_redirects=False)
    assert login.status_code == 303
    url = urlsplit(login.headers["location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://govtrust.test/authorize"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["client_id"] == CLIENT_ID
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert query["redirect_uri"] == "https://govtrust.test/console/callback"
    binding = [c for c in _set_cookies(login) if c.startswith("govtrust_console_login=")]
    assert binding and "HttpOnly" in binding[0] and "Secure" in binding[0]


def test_the_session_cookie_is_httponly_secure_lax_and_holds_no_token(
    demo: Demo, browser: TestClient
) -> None:
    assert log_in(browser, demo, "citizen").status_code == 200
    cookie = browser.cookies.get(COOKIE, path="/console")
    assert cookie and len(cookie) >= 43
    with demo.services.sessions() as session:
        grants = session.scalars(select(GrantRow).where(GrantRow.client_id == CLIENT_ID)).all()
    assert grants  # a grant of the console client, for the citizen
    raw = [value for key, value in _cache_items(demo) if key.startswith("console:session:")]
    assert raw and all(b"eyJ" not in value for value in raw)  # encrypted: no JWT in clear
    assert all(cookie.encode() not in key.encode() for key, _ in _cache_items(demo))


def _cache_items(demo: Demo) -> list[tuple[str, bytes]]:
    cache = demo.services.cache
    items = getattr(cache, "_items", None)
    if items is not None:  # the in-process cache
        return [(key, value) for key, (value, _) in items.items()]
    client = cache._client  # type: ignore[attr-defined]
    prefix = cache._prefix  # type: ignore[attr-defined]
    keys = client.keys(prefix + "console:session:*")
    return [(key.decode()[len(prefix) :], client.get(key)) for key in keys]


def test_the_callback_cookie_attributes(demo: Demo, browser: TestClient) -> None:
    captured: list[str] = []
    original = browser.get

    def spy(url: str, **kwargs: object) -> object:
        response = original(url, **kwargs)  # type: ignore[arg-type]
        if url.startswith("https://govtrust.test/console/callback") or url.startswith(
            "/console/callback"
        ):
            captured.extend(_set_cookies(response))
        return response

    browser.get = spy  # type: ignore[method-assign]
    log_in(browser, demo, "citizen")
    session_cookie = [c for c in captured if c.startswith(f"{COOKIE}=")]
    assert session_cookie, captured
    attributes = session_cookie[0].lower()
    assert "httponly" in attributes
    assert "secure" in attributes
    assert "samesite=lax" in attributes
    assert "path=/console" in attributes


def test_an_unknown_or_replayed_state_is_refused(demo: Demo, browser: TestClient) -> None:
    refused = browser.get("/console/callback?code=abc&state=forged", follow_redirects=False)
    assert refused.status_code == 400
    assert browser.cookies.get(COOKIE, path="/console") is None


def test_a_callback_without_the_browsers_binding_cookie_is_refused(
    demo: Demo, browser: TestClient
) -> None:
    """Login CSRF: an attacker's own code and state, sent to a victim's browser."""
    start = browser.get("/console/login", follow_redirects=False)
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    browser.cookies.delete("govtrust_console_login", path="/console")
    refused = browser.get(f"/console/callback?code=abc&state={state}", follow_redirects=False)
    assert refused.status_code == 400
    assert "登录未完成" in refused.text


def test_a_binding_cookie_of_other_characters_is_refused_not_a_500(
    demo: Demo, browser: TestClient
) -> None:
    start = browser.get("/console/login", follow_redirects=False)
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    browser.cookies.delete("govtrust_console_login", path="/console")
    refused = browser.get(
        f"/console/callback?code=abc&state={state}",
        headers={"cookie": "govtrust_console_login=伪造".encode()},
        follow_redirects=False,
    )
    assert refused.status_code == 400
    assert "登录未完成" in refused.text


def test_a_wrong_iss_is_refused(demo: Demo, browser: TestClient) -> None:
    """RFC 9207: an answer naming another issuer (mix-up) is refused."""
    start = browser.get("/console/login", follow_redirects=False)
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    refused = browser.get(
        f"/console/callback?code=abc&state={state}&iss=https://evil.example",
        follow_redirects=False,
    )
    assert refused.status_code == 400


def test_an_error_answer_from_the_provider_is_a_page_not_a_crash(
    demo: Demo, browser: TestClient
) -> None:
    denied = browser.get("/console/callback?error=access_denied&state=x")
    assert denied.status_code == 400
    assert 'href="/console/login"' in denied.text


def test_next_stays_inside_the_console(demo: Demo, browser: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/console\\@evil", "/other"):
        start = browser.get(f"/console/login?next={target}", follow_redirects=False)
        assert start.status_code == 303
    landed = log_in(browser, demo, "citizen", start="/console/licences")
    assert landed.status_code == 200
    assert "我的证照" in landed.text


def test_logout_revokes_the_grant_and_logs_out_of_the_provider(
    demo: Demo, browser: TestClient
) -> None:
    home = log_in(browser, demo, "citizen")
    old_cookie = browser.cookies.get(COOKIE, path="/console")
    out = browser.post("/console/logout", data={"csrf": csrf_of(home.text)}, follow_redirects=False)
    assert out.status_code == 303
    location = urlsplit(out.headers["location"])
    assert location.path == "/logout"
    query = parse_qs(location.query)
    assert query["post_logout_redirect_uri"] == ["https://govtrust.test/console/logged-out"]
    assert "id_token_hint" in query
    back = browser.get(out.headers["location"], follow_redirects=False)
    assert back.status_code == 303
    assert back.headers["location"] == "https://govtrust.test/console/logged-out"
    assert browser.get(back.headers["location"]).status_code == 200
    with demo.services.sessions() as session:
        grants = session.scalars(select(GrantRow).where(GrantRow.client_id == CLIENT_ID)).all()
    assert grants and all(g.revoked_at is not None for g in grants)
    # the old cookie is worth nothing now
    browser.cookies.set(COOKIE, old_cookie or "", domain="govtrust.test", path="/console")
    again = browser.get("/console/profile", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/console/login")


def test_an_expired_access_token_is_refreshed_without_a_new_login(
    demo: Demo, browser: TestClient, clock: FrozenClock
) -> None:
    log_in(browser, demo, "citizen")
    clock.advance(minutes=11)  # past the 10-minute access token
    page = browser.get("/console/profile", follow_redirects=False)
    assert page.status_code == 200, page.headers.get("location")
    clock.advance(minutes=11)  # and again: the rotated refresh token works too
    assert browser.get("/console/profile", follow_redirects=False).status_code == 200


def test_a_refresh_that_another_request_just_made_is_not_made_again(
    demo: Demo, browser: TestClient, clock: FrozenClock
) -> None:
    """Two requests of one session find the access token due at once; the second takes the
    refresh lock only after the first has refreshed and let it go. It must use the tokens
    the first stored, not present the refresh token it read before, which the first spent
    (a reuse: the grant would be revoked and the person logged out)."""
    log_in(browser, demo, "citizen")
    services = demo.services
    store = store_of(services)
    cookie = browser.cookies.get(COOKIE, path="/console")
    assert cookie
    clock.advance(minutes=11)
    stale = store.load(cookie)
    assert stale is not None
    first = _refreshed(services, store, cookie, stale)
    assert first.refresh_token != stale.refresh_token
    second = _refreshed(services, store, cookie, stale)  # what the second request had read
    assert second.refresh_token == first.refresh_token
    assert browser.get("/console/profile", follow_redirects=False).status_code == 200
    with services.sessions() as session:
        grants = session.scalars(select(GrantRow).where(GrantRow.client_id == CLIENT_ID)).all()
    assert grants and all(g.revoked_at is None for g in grants)


def test_a_session_ended_at_the_provider_ends_the_console_session(
    demo: Demo, browser: TestClient
) -> None:
    log_in(browser, demo, "citizen")
    out = browser.get("/logout", follow_redirects=False)  # the provider's own logout page
    assert out.status_code == 200
    browser.post("/logout", data={"csrf": csrf_of(out.text)}, follow_redirects=False)
    again = browser.get("/console/profile", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/console/login")


def test_console_is_redirected_to_its_home(demo: Demo, browser: TestClient) -> None:
    response = browser.get("/console", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/console/"


def test_the_console_client_is_registered_once_with_its_scopes(
    demo: Demo, browser: TestClient
) -> None:
    from idp.clients.storage import SqlClientStore

    log_in(browser, demo, "citizen")
    with demo.services.sessions() as session:
        client = SqlClientStore().get(session, CLIENT_ID)
    assert client is not None
    assert client.token_endpoint_auth_method == "client_secret_post"
    assert set(client.scope.split()) == {
        "openid",
        "profile",
        "account",
        "licence:admin",
        "seal:use",
        "seal:admin",
        "offline_access",  # the console keeps its session's tokens fresh (refresh)
    }
    assert client.redirect_uris == ("https://govtrust.test/console/callback",)
    assert demo.data["console"]["client_id"] == CLIENT_ID
