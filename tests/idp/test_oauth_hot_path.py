"""The hot path (idp/hotpath) answers client-credentials tokens (RFC 6749 §4.4) and JWT
introspection (RFC 7662) exactly as the general path does, declines everything else to it,
never touches the database on the event loop, and stores each token's row before answering.

Each request is sent to two apps over the same services: one with the hot path (the
default), one without (``oauth_hot_path=False``), and a spy on the general path tells which
path answered.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from core.app import SECURITY_HEADERS
from core.services import Services
from idp.clients.channels import Channel
from idp.hotpath.client_auth import ClientLoader
from idp.hotpath.signatures import VerifiedTokens
from idp.oauth import jws
from idp.oauth.storage import AccessTokenRow, revoke_grant
from tests.conftest import FrozenClock
from tests.idp.hot_paths import Paths, both_paths, claims_of
from tests.idp.oidc_helpers import World, client_service, person_tokens


@pytest.fixture
def paths(services: Services, monkeypatch: pytest.MonkeyPatch) -> Paths:
    return both_paths(services, monkeypatch)


def cc(client: TestClient, world: World, **extra: Any) -> httpx.Response:
    data = {"grant_type": "client_credentials", "scope": "licence:read", **extra.pop("data", {})}
    auth = extra.pop("auth", (world.service_client_id, world.service_secret))
    return client.post("/token", data=data, auth=auth, **extra)


def warm(paths: Paths, world: World) -> None:
    """The general path fills this process's client and key caches."""
    assert cc(paths.hot, world).status_code == 200
    paths.calls.clear()


def stored(services: Services, jti: str) -> AccessTokenRow | None:
    with services.sessions() as session:
        return session.scalars(select(AccessTokenRow).where(AccessTokenRow.jti == jti)).first()


def test_a_client_credentials_token_from_the_hot_path_is_the_general_path_s(
    services: Services, paths: Paths, world: World
) -> None:
    cold = cc(paths.hot, world)  # cold caches: the key and the client read on a thread
    assert cold.status_code == 200 and paths.calls == []

    hot = cc(paths.hot, world)
    assert paths.calls == []  # answered without the general path
    general = cc(paths.general, world)
    assert paths.calls == ["_token"]

    assert hot.status_code == general.status_code == 200
    for name in ("content-type", "cache-control", "pragma", *SECURITY_HEADERS):
        assert hot.headers[name] == general.headers[name], name
    body, expected = hot.json(), general.json()
    assert body.keys() == expected.keys() == {"access_token", "token_type", "expires_in", "scope"}
    assert {k: body[k] for k in ("token_type", "expires_in", "scope")} == {
        k: expected[k] for k in ("token_type", "expires_in", "scope")
    }
    claims, general_claims = claims_of(body["access_token"]), claims_of(expected["access_token"])
    assert claims.keys() == general_claims.keys()
    for name in ("iss", "aud", "client_id", "sub", "scope", "iat", "exp"):
        assert claims[name] == general_claims[name], name
    assert jws.unverified_header(body["access_token"]) == jws.unverified_header(
        expected["access_token"]
    )
    # the row is committed before the answer, with the same columns as the general path's
    row, general_row = stored(services, claims["jti"]), stored(services, general_claims["jti"])
    assert row is not None and general_row is not None
    for column in ("client_id", "subject", "scope", "issued_at", "expires_at", "grant_id"):
        assert getattr(row, column) == getattr(general_row, column), column


def test_client_secret_post_and_the_registered_scope_when_none_is_asked(
    services: Services, paths: Paths, world: World
) -> None:
    clients = client_service(services)
    posting, secret = clients.register(
        name="按表单认证的系统",
        channel=Channel.SERVICE,
        scope="licence:read",
        token_endpoint_auth_method="client_secret_post",
    )
    assert secret
    form = {"grant_type": "client_credentials", "client_id": posting.client_id}
    first = paths.hot.post("/token", data={**form, "client_secret": secret})
    assert first.status_code == 200 and paths.calls == []
    hot = paths.hot.post("/token", data={**form, "client_secret": secret})
    assert hot.status_code == 200 and paths.calls == []
    assert hot.json()["scope"] == "licence:read"
    # the same client with HTTP Basic: not its registered method, refused by the general path
    basic = paths.hot.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(posting.client_id, secret)
    )
    assert basic.status_code == 401 and basic.json()["error"] == "invalid_client"
    assert paths.calls == ["_token"]


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.mark.parametrize(
    "case",
    [
        "wrong secret",
        "unregistered scope",
        "repeated parameter",
        "unknown parameter",
        "basic and post at once",
        "not a form",
        "not ASCII",
        "field without =",
        "too large",
        "other grant type",
        "malformed basic",
    ],
)
def test_what_the_hot_path_declines_the_general_path_answers_as_always(
    paths: Paths, world: World, case: str
) -> None:
    warm(paths, world)
    good = "grant_type=client_credentials&scope=licence%3Aread"
    auth = basic(world.service_client_id, world.service_secret)
    body, headers = good, {"Authorization": auth}
    if case == "wrong secret":
        headers["Authorization"] = basic(world.service_client_id, "x" + world.service_secret)
    elif case == "unregistered scope":
        body = "grant_type=client_credentials&scope=admin%3Aclients"
    elif case == "repeated parameter":
        body = good + "&scope=licence%3Aread"
    elif case == "unknown parameter":
        body = good + "&resource=https%3A%2F%2Fapi.example"
    elif case == "basic and post at once":
        body = good + f"&client_id={world.service_client_id}&client_secret={world.service_secret}"
    elif case == "not ASCII":
        body = good + "&scope=许可"
    elif case == "field without =":
        body = good + "&scope"
    elif case == "too large":
        body = good + "&padding=" + "a" * 20_000
    elif case == "other grant type":
        body = "grant_type=password&username=a&password=b"
    elif case == "malformed basic":
        headers["Authorization"] = "Basic !!!"
    content_type = "text/plain" if case == "not a form" else "application/x-www-form-urlencoded"
    headers["Content-Type"] = content_type
    answers = []
    for client in (paths.hot, paths.general):
        response = client.post("/token", content=body.encode(), headers=headers)
        answer = response.json()
        answer.pop("access_token", None)
        answers.append((response.status_code, answer))
    assert answers[0] == answers[1]
    if answers[0][0] == 200:  # the hot path answers no error; it declined this success too
        assert paths.calls == ["_token", "_token"]


def test_a_dpop_request_goes_to_the_general_path(paths: Paths, world: World) -> None:
    warm(paths, world)
    response = cc(paths.hot, world, headers={"DPoP": "not-a-proof"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_dpop_proof"
    assert paths.calls == ["_token"]


def test_a_disabled_client_or_rotated_secret_stops_at_once(
    services: Services, paths: Paths, world: World
) -> None:
    warm(paths, world)
    clients = client_service(services)
    new_secret = clients.rotate_secret(world.service_client_id)
    assert cc(paths.hot, world).status_code == 401
    assert cc(paths.hot, world, auth=(world.service_client_id, new_secret)).status_code == 200
    clients.set_status(world.service_client_id, "disabled")
    assert cc(paths.hot, world, auth=(world.service_client_id, new_secret)).status_code == 401


def test_nothing_is_read_from_the_database_on_the_event_loop(
    services: Services, paths: Paths, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cold key cache, cold client cache: the key and the client are read on a thread,
    never on the loop, and the hot path answers."""
    warm(paths, world)
    services.keys.forget_cache()
    read_on: list[str] = []
    read_signer = services.keys.signer

    def signer(purpose: str, issuer_kid: str | None = None) -> Any:
        read_on.append(threading.current_thread().name)
        return read_signer(purpose, issuer_kid)

    monkeypatch.setattr(services.keys, "signer", signer)
    assert cc(paths.hot, world).status_code == 200
    assert cc(paths.hot, world).status_code == 200  # and then from the cache
    assert paths.calls == []
    assert len(read_on) == 1 and read_on[0].startswith("asyncio_")  # the default executor
    server = services.idp.server
    server.client_cache.clear()
    loaded_on: list[str] = []
    load = server.load_client

    def counted(client_id: str) -> Any:
        loaded_on.append(threading.current_thread().name)
        return load(client_id)

    monkeypatch.setattr(server, "load_client", counted)
    assert cc(paths.hot, world).status_code == 200
    assert cc(paths.hot, world).status_code == 200
    assert paths.calls == []
    assert len(loaded_on) == 1 and loaded_on[0].startswith("asyncio_")  # the default executor


def test_requests_that_miss_a_client_at_once_share_one_load(
    services: Services, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a client's time in the cache is over, the requests in flight wait for one load
    instead of all going to the general path (each taking a pooled connection)."""
    server = services.idp.server
    server.client_cache.clear()
    loads: list[str] = []
    load = server.load_client

    def slow(client_id: str) -> Any:
        loads.append(client_id)
        time.sleep(0.05)
        return load(client_id)

    monkeypatch.setattr(server, "load_client", slow)
    loader = ClientLoader(server)

    async def many() -> list[Any]:
        return list(
            await asyncio.gather(*(loader.client(world.service_client_id) for _ in range(20)))
        )

    clients = asyncio.run(many())
    assert loads == [world.service_client_id]
    assert {client.get_client_id() for client in clients} == {world.service_client_id}
    assert asyncio.run(loader.client("nobody")) is None  # unknown: loaded, nothing cached


def test_a_database_error_on_the_hot_path_leaves_the_answer_to_the_general_path(
    services: Services, paths: Paths, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    warm(paths, world)

    async def unavailable(record: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(services.idp.access_tokens, "record", unavailable)
    response = cc(paths.hot, world)
    assert response.status_code == 200 and paths.calls == ["_token"]
    assert stored(services, claims_of(response.json()["access_token"])["jti"]) is not None


def introspect(client: TestClient, world: World, token: str, **form: str) -> httpx.Response:
    return client.post(
        "/introspect",
        data={"token": token, **form},
        auth=(world.service_client_id, world.service_secret),
    )


def test_introspection_on_the_hot_path_is_the_general_path_s(
    services: Services, paths: Paths, world: World, clock: FrozenClock
) -> None:
    tokens = person_tokens(paths.general, world)
    access = tokens["access_token"]
    assert introspect(paths.hot, world, access).status_code == 200  # fills the key cache
    paths.calls.clear()
    hot = introspect(paths.hot, world, access, token_type_hint="access_token")
    assert paths.calls == []
    general = introspect(paths.general, world, access, token_type_hint="access_token")
    assert hot.status_code == general.status_code == 200
    assert hot.json() == general.json()
    assert hot.json()["active"] is True and hot.json()["token_type"] == "Bearer"
    assert "_grant_id" not in hot.json()
    for name in ("content-type", "cache-control", "pragma", *SECURITY_HEADERS):
        assert hot.headers[name] == general.headers[name], name
    paths.calls.clear()

    # a refresh token is the general path's (another client's: inactive for this one)
    refresh = introspect(paths.hot, world, tokens["refresh_token"])
    assert refresh.json() == {"active": False} and paths.calls == ["_introspect"]
    paths.calls.clear()

    # expired: declined (the general path says inactive)
    clock.advance(hours=2)
    expired = introspect(paths.hot, world, access)
    assert expired.json() == {"active": False} and paths.calls == ["_introspect"]


def test_a_database_error_in_introspection_leaves_the_answer_to_the_general_path(
    services: Services, paths: Paths, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E.g. SQLite's file locked by another process: the read on the event loop fails at
    once (tests/core/test_group_commit.py) and the general path answers."""
    access = person_tokens(paths.general, world)["access_token"]
    assert introspect(paths.hot, world, access).status_code == 200  # fills the key cache
    paths.calls.clear()

    async def locked(jti: str, *, rowless: object) -> bool:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(services.idp.access_tokens, "usable", locked)
    response = introspect(paths.hot, world, access)
    assert response.status_code == 200 and paths.calls == ["_introspect"]
    assert response.json()["active"] is True


def test_revocation_reaches_the_hot_path_at_once(
    services: Services, paths: Paths, world: World
) -> None:
    tokens = person_tokens(paths.general, world)
    access, other = tokens["access_token"], cc(paths.general, world).json()["access_token"]
    introspect(paths.hot, world, access)  # fills the published keys
    assert introspect(paths.hot, world, other).json()["active"] is True
    paths.calls.clear()

    revoked = paths.general.post(
        "/revoke", data={"token": other}, auth=(world.service_client_id, world.service_secret)
    )
    assert revoked.status_code == 200
    assert introspect(paths.hot, world, other).json() == {"active": False}
    assert introspect(paths.general, world, other).json() == {"active": False}

    assert introspect(paths.hot, world, access).json()["active"] is True
    with services.sessions.begin() as session:
        row = session.get(AccessTokenRow, claims_of(access)["jti"])
        assert row is not None and row.grant_id is not None
        revoke_grant(session, row.grant_id, services.idp.ctx.clock(), "test")
    assert introspect(paths.hot, world, access).json() == {"active": False}
    assert paths.calls == ["_introspect"]  # only the general path's own request


def test_a_token_whose_row_was_lost_is_inactive(
    services: Services, paths: Paths, world: World
) -> None:
    """By default a client-credentials token's row is not flushed to disk before the token
    is answered (PostgreSQL, ``access_token_rows_flushed``): a crash of the database may
    lose it. Such a token, well signed and unexpired, is then inactive on both paths (fail
    closed), never active without its row."""
    warm(paths, world)
    token = cc(paths.hot, world).json()["access_token"]
    assert paths.calls == []
    with services.sessions.begin() as session:  # what the crash lost
        row = session.get(AccessTokenRow, claims_of(token)["jti"])
        assert row is not None
        session.delete(row)
    assert introspect(paths.hot, world, token).json() == {"active": False}
    assert introspect(paths.general, world, token).json() == {"active": False}


def test_a_tampered_token_or_unauthenticated_caller_goes_to_the_general_path(
    paths: Paths, world: World
) -> None:
    access = cc(paths.general, world).json()["access_token"]
    introspect(paths.hot, world, access)
    paths.calls.clear()
    head, _, signature = access.split(".")
    forged = jws.b64url(json.dumps({**claims_of(access), "scope": "admin:clients"}).encode())
    tampered = f"{head}.{forged}.{signature}"
    assert introspect(paths.hot, world, tampered).json() == {"active": False}
    wrong = paths.hot.post(
        "/introspect", data={"token": access}, auth=(world.service_client_id, "x")
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert paths.calls == ["_introspect", "_introspect"]


def test_a_withdrawn_key_ends_a_remembered_signature(services: Services) -> None:
    signer = services.keys.signer("token")
    token = jws.sign({"jti": "a"}, signer, typ="at+jwt")
    published = {signer.kid: signer.public_key()}
    verified = VerifiedTokens(max_entries=1)
    assert verified.claims(token, published) == {"jti": "a"}
    assert verified.claims(token, published) == {"jti": "a"}  # remembered
    assert verified.claims(token, {"another": signer.public_key()}) is None  # withdrawn
    flipped = "B" if token[-10] == "A" else "A"
    tampered = token[:-10] + flipped + token[-9:]
    assert verified.claims(tampered, published) is None  # a tampered signature
    assert verified.claims(jws.sign({"jti": "b"}, signer, typ="JWT"), published) is None


def test_metrics_label_the_hot_path_with_the_route(paths: Paths, world: World) -> None:
    warm(paths, world)
    cc(paths.hot, world)
    metrics = paths.hot.get("/metrics").text
    assert 'route="/token",status="200"' in metrics.replace('method="POST",', "")
