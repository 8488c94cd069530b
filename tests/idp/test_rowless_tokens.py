"""Client-credentials tokens without a row (idp/oauth/rowless_tokens.py,
``GOVTRUST_CLIENT_CREDENTIALS_TOKEN_ROWS=false``).

Such a token is issued, by the hot path and the general path alike, without a row; its
``jti`` carries a MAC of its claims under the provider's hash key. Introspection (RFC 7662)
and the service's own APIs call it active until it is revoked (RFC 7009), which writes its
row, seen at once by this worker and by the next introspection elsewhere. A token signed
with our key but not minted so (a forged tag, altered claims, another key for the MAC) is
inactive; tokens of other grants keep their rows; the setting affects only tokens issued
after it changed.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.app import create_app
from core.db.engine import transaction
from core.services import Services, build_services
from idp.oauth import jws
from idp.oauth.access_token_ledger import verdict
from idp.oauth.access_tokens import verify_access_token
from idp.oauth.rowless_tokens import SEPARATOR, TAG_LENGTH, is_rowless, rowless_jti
from idp.oauth.storage import AccessTokenRow, GrantRow, revoke_access_token
from tests.conftest import FrozenClock, make_settings
from tests.idp.hot_paths import ISSUER, Paths, both_paths, claims_of, eventually
from tests.idp.oidc_helpers import World, person_tokens


@pytest.fixture
def rowless(services: Services, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """The deployment's choice (settings.client_credentials_token_rows = false), with an app
    that has the hot path and one that has not, and a spy on the general path."""
    monkeypatch.setattr(services.idp.ctx, "client_credentials_token_rows", False)
    return both_paths(services, monkeypatch)


def cc(client: TestClient, world: World) -> str:
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "licence:read"},
        auth=(world.service_client_id, world.service_secret),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def introspect(client: TestClient, world: World, token: str) -> dict[str, Any]:
    response = client.post(
        "/introspect", data={"token": token}, auth=(world.service_client_id, world.service_secret)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def revoke(client: TestClient, world: World, token: str) -> None:
    response = client.post(
        "/revoke", data={"token": token}, auth=(world.service_client_id, world.service_secret)
    )
    assert response.status_code == 200, response.text


def row_of(services: Services, token: str) -> AccessTokenRow | None:
    with services.sessions() as session:
        return session.get(AccessTokenRow, claims_of(token)["jti"])


def remembered(services: Services, paths: Paths, world: World, token: str) -> None:
    """Introspected on the hot path until this worker remembers the token as usable, so
    that what follows tests the forgetting too (idp/oauth/usable_token_memory.py). The
    first may fill the key cache on the general path; PostgreSQL's memory is on once its
    listener listens."""
    memory = services.idp.access_tokens._backend.memory
    jti = claims_of(token)["jti"]

    def known() -> bool:
        assert introspect(paths.hot, world, token)["active"] is True
        return memory.knows(jti)

    assert eventually(known)


def test_the_default_writes_a_row_for_every_token(services: Services, world: World) -> None:
    assert services.settings.client_credentials_token_rows is True
    assert services.idp.ctx.client_credentials_token_rows is True
    app = TestClient(create_app(services=services), base_url=ISSUER)
    token = cc(app, world)
    assert row_of(services, token) is not None
    assert not is_rowless(services.idp.ctx, claims_of(token))


def test_the_setting_reaches_the_provider(tmp_path: Any) -> None:
    built = build_services(make_settings(tmp_path, client_credentials_token_rows=False))
    try:
        assert built.idp.ctx.client_credentials_token_rows is False
    finally:
        built.close()


def test_both_paths_issue_without_a_row_and_introspect_it_active(
    services: Services, rowless: Paths, world: World
) -> None:
    general = cc(rowless.general, world)
    introspect(rowless.hot, world, general)  # fills this process's key cache
    rowless.calls.clear()
    hot = cc(rowless.hot, world)
    assert rowless.calls == []  # the caches are warm: the hot path answered
    for token in (hot, general):
        claims = claims_of(token)
        assert row_of(services, token) is None
        random_part, tag = claims["jti"].split(SEPARATOR)
        assert len(random_part) >= 22 and len(tag) == TAG_LENGTH
        assert is_rowless(services.idp.ctx, claims)
        by_hot, by_general = (
            introspect(rowless.hot, world, token),
            introspect(rowless.general, world, token),
        )
        assert by_hot == by_general
        assert by_hot["active"] is True and by_hot["jti"] == claims["jti"]
        assert by_hot["client_id"] == world.service_client_id == by_hot["sub"]
        with services.sessions() as session:  # what the service's own APIs check (bearer)
            assert verify_access_token(services.idp.ctx, session, token) is not None
    assert claims_of(hot).keys() == claims_of(general).keys()
    assert rowless.calls == ["_introspect", "_introspect"]  # none from the hot app


def test_revocation_writes_the_row_and_is_seen_at_once_on_both_paths(
    services: Services, rowless: Paths, world: World
) -> None:
    token, other = cc(rowless.hot, world), cc(rowless.hot, world)
    remembered(services, rowless, world, token)
    remembered(services, rowless, world, other)
    revoke(rowless.general, world, token)
    row = row_of(services, token)
    assert row is not None and row.revoked_at == services.idp.ctx.clock()
    assert row.client_id == world.service_client_id and row.grant_id is None
    assert row.scope == "licence:read" and row.subject == world.service_client_id
    assert introspect(rowless.hot, world, token) == {"active": False}
    assert introspect(rowless.general, world, token) == {"active": False}
    assert introspect(rowless.hot, world, other)["active"] is True  # only that one
    revoke(rowless.hot, world, token)  # again: nothing changes, no error (RFC 7009 §2.2)
    again = row_of(services, token)
    assert again is not None and again.revoked_at == row.revoked_at


def test_a_revocation_that_finds_its_row_written_meanwhile_still_revokes(
    services: Services, rowless: Paths, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two revocations of one token at once: the second one's ``INSERT`` meets the first
    one's row; it gives way and revokes, and nothing else in its transaction is lost."""
    token = cc(rowless.hot, world)
    claims = claims_of(token)
    now = services.idp.ctx.clock()
    with transaction(services.sessions) as session:  # the other revocation, half done
        session.add(
            AccessTokenRow(
                jti=claims["jti"],
                client_id=world.service_client_id,
                subject=world.service_client_id,
                scope="licence:read",
                issued_at=now,
                expires_at=now + timedelta(minutes=5),
            )
        )
    with transaction(services.sessions) as session:
        monkeypatch.setattr(session, "get", lambda *args, **kwargs: None)  # read before it
        session.add(
            GrantRow(id="kept", client_id=world.service_client_id, scope="", created_at=now)
        )
        revoke_access_token(session, claims, now)
    row = row_of(services, token)
    assert row is not None and row.revoked_at == now
    with services.sessions() as session:
        assert session.get(GrantRow, "kept") is not None
    assert introspect(rowless.hot, world, token) == {"active": False}


def test_another_client_cannot_revoke_it(services: Services, rowless: Paths, world: World) -> None:
    token = cc(rowless.hot, world)
    response = rowless.hot.post(
        "/revoke", data={"token": token}, auth=(world.web_client_id, world.web_secret)
    )
    assert response.status_code == 200  # RFC 7009 §2.2: the same answer, nothing revoked
    assert row_of(services, token) is None
    assert introspect(rowless.hot, world, token)["active"] is True


def test_a_revocation_by_another_worker_reaches_this_one(
    services: Services,
    rowless: Paths,
    world: World,
    backend: str,
    request: pytest.FixtureRequest,
    clock: FrozenClock,
) -> None:
    """SQLite: the very next introspection (the revocation counter); PostgreSQL: when the
    notification arrives (milliseconds)."""
    schema = request.getfixturevalue("pg_schema")[1] if backend == "real" else None
    other = build_services(services.settings, schema=schema, clock=clock)
    try:
        token = cc(rowless.hot, world)
        remembered(services, rowless, world, token)
        revoke(TestClient(create_app(services=other), base_url=ISSUER), world, token)
        if backend == "embedded":
            assert introspect(rowless.hot, world, token) == {"active": False}
        else:
            assert eventually(lambda: introspect(rowless.hot, world, token) == {"active": False})
    finally:
        other.close()


def sign(services: Services, claims: dict[str, Any]) -> str:
    return jws.sign(claims, services.keys.signer("token"), typ="at+jwt")


@pytest.mark.parametrize("forgery", ["another tag", "altered claims", "plain jti", "another key"])
def test_a_token_signed_with_our_key_but_not_minted_rowless_is_inactive(
    services: Services, rowless: Paths, world: World, forgery: str
) -> None:
    """What a stolen signing key alone can make: tokens introspection calls inactive."""
    claims = claims_of(cc(rowless.hot, world))
    random_part = claims["jti"].split(SEPARATOR)[0]
    if forgery == "another tag":
        claims["jti"] = f"{random_part}{SEPARATOR}{'0' * TAG_LENGTH}"
    elif forgery == "altered claims":
        claims["scope"] = "admin:clients"  # the same jti vouches for the old claims only
    elif forgery == "plain jti":
        claims["jti"] = random_part
    else:
        other_ctx = dataclasses.replace(services.idp.ctx, hash_key=b"\x01" * 32)
        others = {name: value for name, value in claims.items() if name != "jti"}
        claims["jti"] = rowless_jti(other_ctx, others)
    forged = sign(services, claims)
    assert not is_rowless(services.idp.ctx, claims)
    assert introspect(rowless.hot, world, forged) == {"active": False}
    assert introspect(rowless.general, world, forged) == {"active": False}
    with services.sessions() as session:  # what the service's own APIs check (bearer)
        assert verify_access_token(services.idp.ctx, session, forged) is None


@pytest.mark.parametrize("jti", [None, 7, "", "a.b.c", f"a{SEPARATOR}short", SEPARATOR])
def test_malformed_jtis_are_not_rowless(services: Services, jti: Any) -> None:
    assert not is_rowless(services.idp.ctx, {"jti": jti, "client_id": "c"})


def test_tokens_of_other_grants_keep_their_rows(
    services: Services, rowless: Paths, world: World
) -> None:
    access = person_tokens(rowless.general, world)["access_token"]
    row = row_of(services, access)
    assert row is not None and row.grant_id is not None
    assert not is_rowless(services.idp.ctx, claims_of(access))


def test_the_setting_changes_only_tokens_issued_after_it(
    services: Services, rowless: Paths, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_row = cc(rowless.hot, world)
    monkeypatch.setattr(services.idp.ctx, "client_credentials_token_rows", True)
    with_row = cc(rowless.hot, world)
    assert row_of(services, with_row) is not None and row_of(services, without_row) is None
    for token in (without_row, with_row):
        assert introspect(rowless.hot, world, token)["active"] is True
        assert introspect(rowless.general, world, token)["active"] is True


def test_an_expired_rowless_token_is_inactive(
    services: Services, rowless: Paths, world: World, clock: FrozenClock
) -> None:
    token = cc(rowless.hot, world)
    clock.advance(hours=1)
    assert introspect(rowless.hot, world, token) == {"active": False}


@pytest.mark.parametrize(
    ("found", "rowless", "usable"),
    [(True, False, True), (False, True, False), (None, True, True), (None, False, False)],
)
def test_a_row_decides_when_there_is_one(found: bool | None, rowless: bool, usable: bool) -> None:
    asked: list[bool] = []

    def issued_rowless() -> bool:
        asked.append(rowless)
        return rowless

    assert verdict(found, issued_rowless) is usable
    assert asked == ([rowless] if found is None else [])  # asked only when there is no row


def test_the_revocation_endpoint_answers_a_bad_request_as_oauth_json(
    rowless: Paths, world: World
) -> None:
    response = rowless.hot.post(
        "/revoke", data={}, auth=(world.service_client_id, world.service_secret)
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
