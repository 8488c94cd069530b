"""RFC 9700 attacks on the provider, each refused (negative cases next to the flow)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from tests.idp.oidc_helpers import (
    REDIRECT,
    World,
    authorize_params,
    callback_params,
    login_and_consent,
    pkce_pair,
)


def token_request(client: TestClient, world: World, **form: str) -> dict[str, object]:
    response = client.post("/token", data=form, auth=(world.web_client_id, world.web_secret))
    body: dict[str, object] = response.json()
    body["_status"] = response.status_code
    return body


def code_and_verifier(
    client: TestClient, world: World, scope: str = "openid profile offline_access"
) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    back = callback_params(
        login_and_consent(
            client, authorize_params(world.web_client_id, challenge, scope=scope), acting_as="self"
        )
    )
    return back["code"], verifier


def redeem(client: TestClient, world: World, code: str, verifier: str) -> dict[str, object]:
    return token_request(
        client,
        world,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://portal.example.gov.cn/callback/",  # trailing slash
        "https://portal.example.gov.cn/callback?x=1",  # extra query
        "https://PORTAL.example.gov.cn/callback",  # case
        "https://portal.example.gov.cn.evil.example/callback",  # suffix domain
        "https://evil.example/callback",  # open redirect
        "http://portal.example.gov.cn/callback",  # downgrade
    ],
)
def test_redirect_uri_must_match_exactly(
    client: TestClient, world: World, redirect_uri: str
) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge, redirect_uri=redirect_uri)
    response = client.get(f"/authorize?{urlencode(params)}", follow_redirects=False)
    assert response.status_code == 400  # an error page, never a redirect to the attacker
    assert "location" not in response.headers


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "id_token token"}, "unsupported_response_type"),
    ],
)
def test_pkce_required_and_no_implicit_flow(
    client: TestClient, world: World, changes: dict[str, str | None], error: str
) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge)
    for key, value in changes.items():
        if value is None:
            params.pop(key)
        else:
            params[key] = value
    response = client.get(f"/authorize?{urlencode(params)}", follow_redirects=False)
    assert response.status_code == 303
    back = callback_params(response)
    assert back["error"] == error and back["iss"] == "https://govtrust.test"
    assert back["state"] == "st-123"


def test_wrong_or_missing_code_verifier_fails(client: TestClient, world: World) -> None:
    code, verifier = code_and_verifier(client, world)
    missing = token_request(
        client, world, grant_type="authorization_code", code=code, redirect_uri=REDIRECT
    )
    assert missing["error"] == "invalid_request"
    code, verifier = code_and_verifier(client, world)
    wrong = redeem(client, world, code, verifier[:-1] + ("A" if verifier[-1] != "A" else "B"))
    assert wrong["error"] == "invalid_grant"


def test_reused_code_revokes_every_token_issued_from_it(client: TestClient, world: World) -> None:
    code, verifier = code_and_verifier(client, world)
    first = redeem(client, world, code, verifier)
    assert first["_status"] == 200
    second = redeem(client, world, code, verifier)
    assert second["_status"] == 400 and second["error"] == "invalid_grant"
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert info.status_code == 401
    refreshed = token_request(
        client, world, grant_type="refresh_token", refresh_token=str(first["refresh_token"])
    )
    assert refreshed["error"] == "invalid_grant"


def test_code_for_another_redirect_uri_or_client_is_refused(
    client: TestClient, world: World
) -> None:
    code, verifier = code_and_verifier(client, world)
    other_uri = token_request(
        client,
        world,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT + "x",
        code_verifier=verifier,
    )
    assert other_uri["error"] == "invalid_grant"


def test_expired_code_is_refused(client: TestClient, world: World, clock) -> None:  # type: ignore[no-untyped-def]
    code, verifier = code_and_verifier(client, world)
    clock.advance(seconds=61)
    assert redeem(client, world, code, verifier)["error"] == "invalid_grant"


def test_refresh_rotates_and_reuse_revokes_the_family(client: TestClient, world: World) -> None:
    code, verifier = code_and_verifier(client, world)
    tokens = redeem(client, world, code, verifier)
    old = str(tokens["refresh_token"])
    rotated = token_request(client, world, grant_type="refresh_token", refresh_token=old)
    assert rotated["_status"] == 200 and rotated["refresh_token"] != old
    assert rotated["id_token"]
    replay = token_request(client, world, grant_type="refresh_token", refresh_token=old)
    assert replay["error"] == "invalid_grant"
    # the reuse revoked the newest refresh token and access token too
    newest = token_request(
        client, world, grant_type="refresh_token", refresh_token=str(rotated["refresh_token"])
    )
    assert newest["error"] == "invalid_grant"
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert info.status_code == 401


def test_refresh_cannot_widen_scope(client: TestClient, world: World) -> None:
    code, verifier = code_and_verifier(client, world, scope="openid offline_access")
    tokens = redeem(client, world, code, verifier)
    wider = token_request(
        client,
        world,
        grant_type="refresh_token",
        refresh_token=str(tokens["refresh_token"]),
        scope="openid id_number",
    )
    assert wider["error"] == "invalid_scope"


def test_no_password_grant_and_unknown_grants(client: TestClient, world: World) -> None:
    for grant in ("password", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer"):
        body = token_request(client, world, grant_type=grant, username="x", password="y")
        assert body["error"] == "unsupported_grant_type"


def test_client_credentials_only_for_service_channel(client: TestClient, world: World) -> None:
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(world.service_client_id, world.service_secret),
    )
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    web = token_request(client, world, grant_type="client_credentials")
    assert web["error"] == "unauthorized_client"
    wrong_secret = client.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(world.service_client_id, "wrong")
    )
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"


def _forge(header: dict[str, str], claims: dict[str, object], signature: bytes = b"") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join(
        [part(json.dumps(header).encode()), part(json.dumps(claims).encode()), part(signature)]
    )


def test_forged_tokens_are_refused(client: TestClient, world: World) -> None:
    code, verifier = code_and_verifier(client, world)
    tokens = redeem(client, world, code, verifier)
    head, body, _ = str(tokens["access_token"]).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    kid = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]
    jwks = client.get("/pki/jwks.json").text.encode()
    hs = _forge({"alg": "HS256", "kid": kid, "typ": "at+jwt"}, claims)
    signing_input = hs.rsplit(".", 1)[0].encode()
    hs = (
        hs.rsplit(".", 1)[0]
        + "."
        + base64.urlsafe_b64encode(hmac.new(jwks, signing_input, hashlib.sha256).digest())
        .rstrip(b"=")
        .decode()
    )
    forged = [
        _forge({"alg": "none", "typ": "at+jwt", "kid": kid}, claims),
        hs,
        _forge({"alg": "ES256", "typ": "at+jwt", "kid": "attacker"}, claims, b"x" * 64),
        f"{head}.{body[:-2]}AA.{str(tokens['access_token']).split('.')[2]}",
        str(tokens["id_token"]),  # an ID token is not an access token (typ)
    ]
    for token in forged:
        response = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert "invalid_token" in response.headers["www-authenticate"]


def test_introspection_and_revocation(client: TestClient, world: World) -> None:
    code, verifier = code_and_verifier(client, world)
    tokens = redeem(client, world, code, verifier)
    auth = (world.web_client_id, world.web_secret)
    active = client.post("/introspect", data={"token": tokens["access_token"]}, auth=auth).json()
    assert active["active"] is True and active["client_id"] == world.web_client_id
    refresh_info = client.post(
        "/introspect", data={"token": tokens["refresh_token"]}, auth=auth
    ).json()
    assert refresh_info["active"] is True
    anonymous = client.post("/introspect", data={"token": tokens["access_token"]})
    assert anonymous.status_code == 401
    assert (
        client.post("/revoke", data={"token": tokens["access_token"]}, auth=auth).status_code == 200
    )
    gone = client.post("/introspect", data={"token": tokens["access_token"]}, auth=auth).json()
    assert gone == {"active": False}
    assert (
        client.post("/revoke", data={"token": tokens["refresh_token"]}, auth=auth).status_code
        == 200
    )
    assert client.post(
        "/introspect", data={"token": tokens["refresh_token"]}, auth=auth
    ).json() == {"active": False}
    assert client.post("/revoke", data={"token": "garbage"}, auth=auth).status_code == 200


def test_prompt_none_without_session_is_login_required(client: TestClient, world: World) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge, prompt="none")
    back = callback_params(client.get(f"/authorize?{urlencode(params)}", follow_redirects=False))
    assert back["error"] == "login_required"


def test_forms_need_their_csrf_token(client: TestClient, world: World) -> None:
    _, challenge = pkce_pair()
    start = client.get(
        f"/authorize?{urlencode(authorize_params(world.web_client_id, challenge))}",
        follow_redirects=False,
    )
    action = start.headers["location"] + "/login"
    response = client.post(
        action, data={"username": "x", "password": "y", "csrf": "forged"}, follow_redirects=False
    )
    assert response.status_code == 400
    assert client.get(start.headers["location"]).headers["x-frame-options"] == "DENY"


def test_a_response_mode_other_than_query_is_refused(client: TestClient, world: World) -> None:
    """Only ``query`` is supported (discovery's response_modes_supported): a request for
    a fragment, a form post or JARM is told so, not answered in the query as if it asked."""
    _, challenge = pkce_pair()
    for mode in ("fragment", "form_post", "jwt"):
        params = authorize_params(world.web_client_id, challenge, response_mode=mode)
        back = callback_params(
            client.get(f"/authorize?{urlencode(params)}", follow_redirects=False)
        )
        assert back["error"] == "invalid_request" and "code" not in back, mode
    params = authorize_params(world.web_client_id, challenge, response_mode="query")
    started = client.get(f"/authorize?{urlencode(params)}", follow_redirects=False)
    assert started.headers["location"].startswith("/interaction/")


def test_a_form_token_of_other_characters_is_refused_not_a_500(
    client: TestClient, world: World
) -> None:
    """A posted form token that is not ASCII is a mismatch like any other (the comparison
    of two str in constant time raised TypeError on it)."""
    _, challenge = pkce_pair()
    start = client.get(
        f"/authorize?{urlencode(authorize_params(world.web_client_id, challenge))}",
        follow_redirects=False,
    )
    forged = "伪造"
    login = client.post(
        start.headers["location"] + "/login",
        data={"username": "x", "password": "y", "csrf": forged},
        follow_redirects=False,
    )
    assert login.status_code == 400
    assert client.post("/logout", data={"csrf": forged}).status_code == 400
    assert client.get("/device").status_code == 200  # the page's cookie
    device = client.post("/device", data={"user_code": "BCDF-GHJK", "csrf": forged})
    assert device.status_code == 400


def test_token_endpoint_errors_are_oauth_json(client: TestClient, world: World) -> None:
    as_json = client.post("/token", json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    repeated = client.post(
        "/token",
        content=b"grant_type=a&grant_type=b",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert repeated.json()["error"] == "invalid_request"


def test_client_credentials_only_give_registered_scopes(client: TestClient, world: World) -> None:
    auth = (world.service_client_id, world.service_secret)
    wider = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "licence:read id_number"},
        auth=auth,
    )
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    default = client.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
    assert default.json()["scope"] == "licence:read"
