"""The hot path's refresh (idp/hotpath/refresh.py) answers a valid refresh (RFC 6749 §6)
exactly as the general path does, rotates the token with the same conditional claim, stores
the same rows before answering, and leaves every other request, a reused token above all
(RFC 9700 §4.14.2: the whole grant is revoked), to the general path.

Each request goes to two apps over the same services, one with the hot path and one
without (tests/idp/hot_paths.py); a spy on the general path tells which one answered.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from core.app import SECURITY_HEADERS
from core.db.driver_connection import DriverConnection
from core.db.engine import write_turn
from core.db.libpq_statements import LibpqConnection
from core.services import Services
from idp.hotpath import refresh as hot_refresh
from idp.identities.storage import PersonRow
from idp.oauth import jws, refresh_rotation_sqlite
from idp.oauth.refresh_rotation_postgres import PostgresRefreshRotation
from idp.oauth.refresh_rotation_sqlite import SqliteRefreshRotation
from idp.oauth.storage import AccessTokenRow, GrantRow, RefreshTokenRow, revoke_grant
from tests.conftest import FrozenClock
from tests.idp.hot_paths import ISSUER, Paths, both_paths, claims_of
from tests.idp.oidc_helpers import World, person_tokens
from tests.thread_outcome import in_thread

EXECUTOR = "asyncio_"  # the names of the threads of an event loop's default executor


@pytest.fixture
def paths(services: Services, monkeypatch: pytest.MonkeyPatch) -> Paths:
    return both_paths(services, monkeypatch)


def refresh(client: TestClient, world: World, token: str, **extra: Any) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token, **extra.pop("data", {})}
    auth = extra.pop("auth", (world.web_client_id, world.web_secret))
    return client.post("/token", data=data, auth=auth, **extra)


def fresh_tokens(paths: Paths, world: World, scope: str | None = None) -> dict[str, Any]:
    """A person's tokens from the code flow (the general path), the spy cleared after."""
    tokens = person_tokens(paths.general, world, **({"scope": scope} if scope else {}))
    paths.calls.clear()
    return tokens


def refresh_row(services: Services, token: str) -> RefreshTokenRow | None:
    digest = services.idp.ctx.digest("refresh", token)
    with services.sessions() as session:
        return session.get(RefreshTokenRow, digest)


def grant_revoked(services: Services, grant_id: str) -> bool:
    with services.sessions() as session:
        grant = session.get(GrantRow, grant_id)
        return grant is not None and grant.revoked_at is not None


def test_a_refresh_from_the_hot_path_is_the_general_path_s(
    services: Services, paths: Paths, world: World
) -> None:
    first, second = fresh_tokens(paths, world), fresh_tokens(paths, world)
    hot = refresh(paths.hot, world, first["refresh_token"])
    assert hot.status_code == 200, hot.text
    assert paths.calls == []  # answered without the general path
    general = refresh(paths.general, world, second["refresh_token"])
    assert general.status_code == 200 and paths.calls == ["_token"]

    for name in ("content-type", "cache-control", "pragma", *SECURITY_HEADERS):
        assert hot.headers[name] == general.headers[name], name
    body, expected = hot.json(), general.json()
    assert list(body) == list(expected)  # the same members, in the same order
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "refresh_token",
        "id_token",
    }
    for name in ("token_type", "expires_in", "scope"):
        assert body[name] == expected[name], name
    for kind in ("access_token", "id_token"):
        claims, general_claims = claims_of(body[kind]), claims_of(expected[kind])
        assert claims.keys() == general_claims.keys(), kind
        for name in claims.keys() - {"jti", "iat", "nbf", "exp", "at_hash", "auth_time"}:
            assert claims[name] == general_claims[name], (kind, name)
        assert jws.unverified_header(body[kind]) == jws.unverified_header(expected[kind])
    id_claims = claims_of(body["id_token"])
    assert id_claims["name"] == "张三" and id_claims["id_number_masked"].count("*") == 8
    assert "id_number" not in id_claims

    # the old token is spent, the new rows were committed before the answer, as the
    # general path stores them
    old = refresh_row(services, first["refresh_token"])
    assert old is not None and old.rotated_at is not None
    new, general_new = (
        refresh_row(services, body["refresh_token"]),
        refresh_row(services, expected["refresh_token"]),
    )
    assert new is not None and general_new is not None
    for column in ("grant_id", "client_id", "scope", "dpop_jkt", "rotated_at", "revoked_at"):
        if column != "grant_id":
            assert getattr(new, column) == getattr(general_new, column), column
    assert new.grant_id == old.grant_id
    assert new.expires_at - new.issued_at == general_new.expires_at - general_new.issued_at
    with services.sessions() as session:
        row = session.get(AccessTokenRow, claims_of(body["access_token"])["jti"])
    assert row is not None and row.grant_id == old.grant_id and row.revoked_at is None


def test_the_new_token_refreshes_again_and_a_reused_one_revokes_the_grant(
    services: Services, paths: Paths, world: World
) -> None:
    tokens = fresh_tokens(paths, world)
    grant_id = refresh_row(services, tokens["refresh_token"]).grant_id  # type: ignore[union-attr]
    second = refresh(paths.hot, world, tokens["refresh_token"]).json()
    third = refresh(paths.hot, world, second["refresh_token"]).json()
    assert paths.calls == [] and "refresh_token" in third

    # the first token again: a reuse, which the hot path leaves to the general path
    reused = refresh(paths.hot, world, tokens["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert paths.calls == ["_token"]
    assert grant_revoked(services, grant_id)
    # so the latest token is worth nothing now, and its access token is inactive
    latest = refresh(paths.hot, world, third["refresh_token"])
    assert latest.status_code == 400 and latest.json()["error"] == "invalid_grant"
    introspected = paths.hot.post(
        "/introspect",
        data={"token": third["access_token"]},
        auth=(world.web_client_id, world.web_secret),
    )
    assert introspected.json() == {"active": False}


@pytest.mark.parametrize(
    "case",
    [
        "narrower scope",
        "wrong secret",
        "another client's token",
        "unknown token",
        "expired token",
        "revoked grant",
        "DPoP proof",
        "repeated parameter",
        "disabled person",
    ],
)
def test_what_the_hot_path_declines_the_general_path_answers_as_always(
    services: Services, paths: Paths, world: World, clock: FrozenClock, case: str
) -> None:
    hot_tokens, general_tokens = fresh_tokens(paths, world), fresh_tokens(paths, world)
    answers = []
    for client, tokens in ((paths.hot, hot_tokens), (paths.general, general_tokens)):
        token = tokens["refresh_token"]
        data: dict[str, str] = {}
        auth = (world.web_client_id, world.web_secret)
        headers: dict[str, str] = {}
        if case == "narrower scope":
            data["scope"] = "openid offline_access"
        elif case == "wrong secret":
            auth = (world.web_client_id, "x" + world.web_secret)
        elif case == "another client's token":
            auth = (world.service_client_id, world.service_secret)
        elif case == "unknown token":
            token = "x" + token
        elif case == "revoked grant":
            row = refresh_row(services, token)
            assert row is not None
            with services.sessions() as session, session.begin():
                revoke_grant(session, row.grant_id, clock(), "test")
        elif case == "DPoP proof":
            headers["DPoP"] = "not-a-proof"
        elif case == "disabled person":
            with services.sessions() as session, session.begin():
                session.execute(update(PersonRow).values(status="disabled"))
        body = {"grant_type": "refresh_token", "refresh_token": token, **data}
        if case == "repeated parameter":
            body = {**body, "grant_type": ["refresh_token", "refresh_token"]}  # type: ignore[dict-item]
        lifetime = services.idp.ctx.lifetimes.refresh_token.total_seconds()
        if case == "expired token":
            clock.advance(seconds=lifetime + 1)
        response = client.post("/token", data=body, auth=auth, headers=headers)
        if case == "expired token":
            clock.advance(seconds=-(lifetime + 1))
        if case == "disabled person":
            with services.sessions() as session, session.begin():
                session.execute(update(PersonRow).values(status="active"))
        answer = response.json()
        for name in ("access_token", "refresh_token", "id_token"):
            answer.pop(name, None)
        answers.append((response.status_code, answer))
    assert answers[0] == answers[1]
    if answers[0][0] == 200:  # the hot path answers no error; it declined this success too
        assert paths.calls == ["_token", "_token"]


def test_claims_beyond_the_person_s_row_go_to_the_general_path(paths: Paths, world: World) -> None:
    tokens = fresh_tokens(paths, world, scope="openid phone offline_access")
    response = refresh(paths.hot, world, tokens["refresh_token"])
    assert response.status_code == 200 and paths.calls == ["_token"]
    assert claims_of(response.json()["id_token"])["phone_number"] == "+8613800138000"


def test_without_openid_there_is_no_id_token(paths: Paths, world: World) -> None:
    tokens = fresh_tokens(paths, world, scope="offline_access account")
    response = refresh(paths.hot, world, tokens["refresh_token"])
    assert response.status_code == 200 and paths.calls == []
    assert set(response.json()) == {
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "refresh_token",
    }


def test_one_statement_reads_the_token_its_grant_and_person(
    services: Services, paths: Paths, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: one transaction (the read, the claim, two inserts) on a thread. PostgreSQL:
    two prepared statements from the event loop, the read and then the claim with both
    inserts in one, and nothing through the driver's cursor."""
    tokens = fresh_tokens(paths, world)
    statements: list[str] = []
    run, run_prepared = DriverConnection._run, LibpqConnection._run

    def noting(self: DriverConnection, sql: str, *rest: Any) -> Any:
        statements.append(" ".join(sql.split()).upper())
        return run(self, sql, *rest)

    async def noting_prepared(self: LibpqConnection, name: str, sql: str, *rest: Any) -> Any:
        statements.append(" ".join(sql.split()).upper())
        return await run_prepared(self, name, sql, *rest)

    monkeypatch.setattr(DriverConnection, "_run", noting)
    monkeypatch.setattr(LibpqConnection, "_run", noting_prepared)
    assert refresh(paths.hot, world, tokens["refresh_token"]).status_code == 200
    assert paths.calls == []
    reads = [s for s in statements if s.startswith("SELECT")]
    assert len(reads) == 1
    for table in ("OAUTH_REFRESH_TOKENS", "OAUTH_GRANTS", "PERSONS"):
        assert table in reads[0], table
    if services.engine.dialect.name == "sqlite":
        assert [s.split()[0] for s in statements] == [
            "BEGIN",  # IMMEDIATE
            "SELECT",
            "UPDATE",
            "INSERT",
            "INSERT",
            "COMMIT",
        ]
        assert statements[0] == "BEGIN IMMEDIATE"
    else:
        assert len(statements) == 2 and statements[0] == reads[0]
        rotation = statements[1]
        assert rotation.startswith("WITH CLAIMED AS (UPDATE OAUTH_REFRESH_TOKENS")
        assert "INSERT INTO OAUTH_ACCESS_TOKENS" in rotation
        assert "INSERT INTO OAUTH_REFRESH_TOKENS" in rotation


def test_a_database_error_leaves_the_refresh_to_the_general_path_with_nothing_written(
    services: Services, paths: Paths, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the new refresh token's row (its hash is taken: a unique key),
    after the claim's ``UPDATE`` on SQLite, within the same statement on PostgreSQL. The
    claim goes with it: had it stayed, the general path would have taken the same token for
    a reuse and revoked the grant."""
    tokens = fresh_tokens(paths, world)
    taken = refresh_row(services, tokens["refresh_token"])
    assert taken is not None
    columns = hot_refresh.refresh_token_columns

    def colliding(token_hash: str, *rest: Any) -> dict[str, Any]:
        return columns(taken.token_hash, *rest)

    monkeypatch.setattr(hot_refresh, "refresh_token_columns", colliding)
    response = refresh(paths.hot, world, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    assert paths.calls == ["_token"]  # declined by the hot path, refreshed by the general one
    row = refresh_row(services, tokens["refresh_token"])
    assert row is not None and not grant_revoked(services, row.grant_id)
    with services.sessions() as session:  # the hot path's access token was not stored
        grant_tokens = session.scalars(
            select(AccessTokenRow).where(AccessTokenRow.grant_id == row.grant_id)
        ).all()
    assert len(grant_tokens) == 2  # the code flow's and the general path's refresh
    monkeypatch.undo()
    assert refresh(paths.hot, world, response.json()["refresh_token"]).status_code == 200


def test_a_token_rotated_meanwhile_is_left_to_the_general_path(
    services: Services, paths: Paths, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: another request rotated the token between this one's read and its claim
    (two statements): the claim changes nothing, nothing is stored, and the general path
    judges the request (a reuse: the grant is revoked). On SQLite the read is made under
    the write lock, so no other writer comes between."""
    if services.engine.dialect.name == "sqlite":
        pytest.skip("on SQLite the read and the claim are one transaction under the write lock")
    tokens = fresh_tokens(paths, world)
    row = refresh_row(services, tokens["refresh_token"])
    assert row is not None
    read = PostgresRefreshRotation.read

    async def read_then_rotated_elsewhere(self: PostgresRefreshRotation, *args: Any) -> Any:
        found = await read(self, *args)
        with services.sessions.begin() as session:
            session.execute(
                update(RefreshTokenRow)
                .where(RefreshTokenRow.token_hash == row.token_hash)
                .values(rotated_at=services.idp.ctx.clock())
            )
        return found

    monkeypatch.setattr(PostgresRefreshRotation, "read", read_then_rotated_elsewhere)
    response = refresh(paths.hot, world, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert paths.calls == ["_token"]
    assert grant_revoked(services, row.grant_id)
    with services.sessions() as session:
        stored = session.scalars(
            select(AccessTokenRow).where(AccessTokenRow.grant_id == row.grant_id)
        ).all()
    assert len(stored) == 1  # the code flow's only


@pytest.mark.parametrize("path", ["hot", "general"])
def test_a_refresh_meeting_a_revocation_in_flight_waits_and_issues_nothing(
    services: Services, paths: Paths, world: World, path: str
) -> None:
    """PostgreSQL: a logout or a reuse elsewhere is revoking the grant, not yet committed,
    when the refresh claims its token. The claim waits for the grant's row; once the
    revocation commits it sees it, and no token is issued for the revoked grant (before,
    the rotation went through beside it, and its ID token could not be taken back). On
    SQLite the write lock orders them."""
    if services.engine.dialect.name == "sqlite":
        pytest.skip("on SQLite one writer at a time: the write lock orders them")
    tokens = fresh_tokens(paths, world)
    row = refresh_row(services, tokens["refresh_token"])
    assert row is not None
    client = paths.hot if path == "hot" else paths.general
    answers: list[httpx.Response] = []
    with services.engine.connect() as elsewhere:
        revocation = elsewhere.begin()
        elsewhere.execute(
            update(GrantRow)
            .where(GrantRow.id == row.grant_id)
            .values(revoked_at=services.idp.ctx.clock(), revoked_reason="logout")
        )
        thread, outcome = in_thread(
            lambda: answers.append(refresh(client, world, tokens["refresh_token"]))
        )
        thread.join(1.0)
        assert thread.is_alive()  # waiting for the revocation's lock on the grant
        revocation.commit()
    thread.join(10)
    assert outcome == [None]
    assert answers[0].status_code == 400 and answers[0].json()["error"] == "invalid_grant"
    with services.sessions() as session:
        stored = session.scalars(
            select(AccessTokenRow).where(AccessTokenRow.grant_id == row.grant_id)
        ).all()
        successors = session.scalars(
            select(RefreshTokenRow).where(RefreshTokenRow.grant_id == row.grant_id)
        ).all()
    assert len(stored) == 1 and len(successors) == 1  # the code flow's only


def test_concurrent_refreshes_with_one_token_give_at_most_one_success(
    services: Services, paths: Paths, world: World
) -> None:
    """RFC 9700 §4.14.2 without a grace period: one request wins the claim; each other one
    is a reuse, which the general path answers by revoking the grant (so in the end even
    the winner's new token is refused)."""
    tokens = fresh_tokens(paths, world)
    grant_id = refresh_row(services, tokens["refresh_token"]).grant_id  # type: ignore[union-attr]
    app = paths.hot.app

    async def race() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/token",
                        data={
                            "grant_type": "refresh_token",
                            "refresh_token": tokens["refresh_token"],
                        },
                        auth=(world.web_client_id, world.web_secret),
                    )
                    for _ in range(6)
                )
            )
        return [r.status_code for r in responses]

    statuses = asyncio.run(race())
    assert statuses.count(200) <= 1
    assert statuses.count(400) >= 5
    assert grant_revoked(services, grant_id)
    with services.sessions() as session:
        live = session.scalars(
            select(RefreshTokenRow).where(
                RefreshTokenRow.grant_id == grant_id, RefreshTokenRow.rotated_at.is_(None)
            )
        ).all()
    assert len(live) <= 1  # the winner's, if any, of a grant that is revoked


def test_on_sqlite_the_rotation_is_made_on_the_event_loop_unless_another_writer_has_the_turn(
    services: Services, paths: Paths, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop never waits for SQLite's writer's turn: while another writer of the process
    has it, the rotation goes to a thread, which waits for it, and the answer is the same."""
    if services.engine.dialect.name != "sqlite":
        pytest.skip("on PostgreSQL both statements are sent from the event loop")
    tokens = fresh_tokens(paths, world)
    made: list[tuple[bool, str]] = []
    transaction = SqliteRefreshRotation.transaction

    def noting(self: SqliteRefreshRotation, *, here: bool = False) -> Any:
        made.append((here, threading.current_thread().name))
        return transaction(self, here=here)

    monkeypatch.setattr(SqliteRefreshRotation, "transaction", noting)
    first = refresh(paths.hot, world, tokens["refresh_token"])
    assert first.status_code == 200 and paths.calls == []
    assert [here for here, _ in made] == [True]

    made.clear()
    holding, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        with write_turn(services.engine):
            holding.set()
            release.wait(10)

    writer = threading.Thread(target=other_writer)
    writer.start()
    assert holding.wait(5)
    threading.Timer(0.2, release.set).start()
    second = refresh(paths.hot, world, first.json()["refresh_token"])
    writer.join()
    assert second.status_code == 200 and paths.calls == []  # still the hot path
    assert [here for here, _ in made] == [True, False]
    assert not made[0][1].startswith(EXECUTOR) and made[1][1].startswith(EXECUTOR)
    assert refresh_row(services, first.json()["refresh_token"]).rotated_at is not None  # type: ignore[union-attr]


def test_the_loop_s_connection_never_waits_and_leaves_checkpoints_to_a_thread(
    services: Services, paths: Paths, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    if services.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's WAL")
    rotation = services.idp.refresh_rotation
    assert isinstance(rotation, SqliteRefreshRotation)
    monkeypatch.setattr(refresh_rotation_sqlite, "CHECKPOINT_EVERY", 2)
    checkpoints: list[str] = []
    checkpoint = SqliteRefreshRotation.checkpoint

    def noting(self: SqliteRefreshRotation) -> None:
        checkpoints.append(threading.current_thread().name)
        checkpoint(self)

    monkeypatch.setattr(SqliteRefreshRotation, "checkpoint", noting)
    token = fresh_tokens(paths, world)["refresh_token"]
    loop_threads = set()
    transaction = SqliteRefreshRotation.transaction

    def noting_thread(self: SqliteRefreshRotation, *, here: bool = False) -> Any:
        loop_threads.add(threading.current_thread().name)
        return transaction(self, here=here)

    monkeypatch.setattr(SqliteRefreshRotation, "transaction", noting_thread)
    before = rotation.commits_here
    for _ in range(4):
        response = refresh(paths.hot, world, token)
        assert response.status_code == 200 and paths.calls == []
        token = response.json()["refresh_token"]
    assert rotation.commits_here - before == 4
    deadline = time.monotonic() + 5
    while len(checkpoints) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(checkpoints) == 2 and all(name.startswith(EXECUTOR) for name in checkpoints)
    assert not any(name.startswith(EXECUTOR) for name in loop_threads)
    assert rotation._here.query("PRAGMA busy_timeout", ()) == [(0,)]
    assert rotation._here.query("PRAGMA wal_autocheckpoint", ()) == [(0,)]


def test_a_refresh_token_from_a_grant_without_offline_access_gets_no_successor(
    services: Services, paths: Paths, world: World
) -> None:
    """Refresh tokens issued before they needed ``offline_access`` (OpenID Connect Core
    §11): the hot path leaves them to the general path, which answers without a new one."""
    tokens = fresh_tokens(paths, world)
    digest = services.idp.ctx.digest("refresh", tokens["refresh_token"])
    with services.sessions() as session, session.begin():
        row = session.get(RefreshTokenRow, digest)
        assert row is not None and "offline_access" in row.scope.split()
        row.scope = " ".join(s for s in row.scope.split() if s != "offline_access")
    answer = refresh(paths.hot, world, tokens["refresh_token"])
    assert answer.status_code == 200, answer.text
    assert paths.calls == ["_token"]  # declined by the hot path
    assert "access_token" in answer.json() and "refresh_token" not in answer.json()
    again = refresh(paths.hot, world, tokens["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
