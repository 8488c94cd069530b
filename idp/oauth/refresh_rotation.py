"""A refresh token's rotation in plain SQL, atomic, for the hot path
(:mod:`idp.hotpath.refresh`).

The general path (:class:`idp.grants.refresh.RotatingRefreshGrant` under Authlib, in an ORM
unit of work) spends about 8 ms of CPU on a refresh, most of it in the ORM around six
statements (``bench/PROFILE.md``, eighth pass). This sends the same reads and writes through
the driver itself:

1. :meth:`Rotation.read`: the token's row, its grant and the grant's person, in one
   ``SELECT``, judged by :func:`usable` with the same checks as ``authenticate_refresh_token``
   (not revoked, not expired, not yet rotated, the grant not revoked, the presenting
   client's token, no DPoP binding) and an active person; anything else is not decided here;
2. :meth:`Rotation.rotate`: the conditional ``UPDATE`` that only one request can win (RFC
   9700 §4.14.2), as on the general path, and, only if it won, the new access token's and
   refresh token's rows, converted by the columns' own types, so they are stored exactly as
   the ORM stores them. All of it or nothing.

On SQLite the two steps are one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``: four
statements besides), made on the event loop itself when no other writer of the process has
the turn (:func:`~core.db.engine.write_turn` without waiting, on a connection that never
waits for a lock; the hand-off to a thread cost more CPU than the whole transaction,
eleventh pass of ``bench/PROFILE.md``), else on a connection of the calling thread's own
(:class:`~core.db.driver_connection.ThreadConnections`), which waits for its turn. The loop's
connection leaves the WAL's checkpoints to a thread, one every :data:`CHECKPOINT_EVERY` of
its commits. On PostgreSQL the read is a statement of its own and the rotation one
more, the claim and both inserts in one statement (data-modifying ``WITH``, PostgreSQL
documentation §7.8.4), atomic as every statement is: two statements instead of six (ninth
pass of ``bench/PROFILE.md``), each a prepared statement sent from the event loop itself
through libpq (:class:`~core.db.libpq_pool.LibpqPool`), which costs less than psycopg's
cursor on a thread and the hand-off to that thread (eleventh pass). The read
outside the claim's transaction judges no less than before: under ``READ COMMITTED`` a
transaction's statements each see what was committed when they began, so a revocation
between the read and the claim was not seen by the read before either, and the claim's
``WHERE`` decides the race either way.

A token that was already rotated is *not* decided here: the caller leaves such a request to
the general path, which revokes the whole grant and audits the reuse. So this module only
ever rotates a token that is valid; every refusal stays with the general path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Engine, Table
from sqlalchemy.exc import SQLAlchemyError

from core.db.async_postgres import AsyncPostgres
from core.db.driver_connection import (
    PLACEHOLDERS,
    DriverConnection,
    ThreadConnections,
    driver_converters,
    result_converters,
)
from core.db.engine import write_turn
from core.db.libpq_pool import LibpqPool
from idp.identities.storage import PersonRow
from idp.oauth import access_token_ledger
from idp.oauth.access_token_ledger import AccessTokenRecord
from idp.oauth.principal import Principal, principal_of_grant
from idp.oauth.storage import GrantRow, RefreshTokenRow

log = logging.getLogger(__name__)

TOKENS: Table = RefreshTokenRow.__table__  # type: ignore[assignment]
GRANTS: Table = GrantRow.__table__  # type: ignore[assignment]
PERSONS: Table = PersonRow.__table__  # type: ignore[assignment]
# PostgreSQL, per event loop: connections for the read and the rotation (one statement each
# at a time)
LOOP_CONNECTIONS = 4
# SQLite: the event loop's commits between two checkpoints of the WAL, made on a thread
# (SQLite's own automatic checkpoint comes after about 1,000 pages; a rotation writes a few)
CHECKPOINT_EVERY = 100
REFRESH_COLUMNS = (
    "token_hash",
    "grant_id",
    "client_id",
    "scope",
    "issued_at",
    "expires_at",
    "dpop_jkt",
)


class Found(NamedTuple):
    """What :meth:`Rotation.read` selects, in its order."""

    client_id: str
    scope: str
    expires_at: datetime
    rotated_at: Any  # only whether it is NULL is read
    revoked_at: Any
    dpop_jkt: str | None
    grant_revoked_at: Any
    id: str  # the grant's
    person_id: str | None
    subject: str | None
    auth_time: datetime | None
    acr: str | None
    amr: str
    organisation_id: str | None
    organisation_subject: str | None
    session_id: str | None
    person_status: str | None
    person_name: str | None
    person_id_number_masked: str | None


_SELECTED = (
    (TOKENS, "client_id"),
    (TOKENS, "scope"),
    (TOKENS, "expires_at"),
    (TOKENS, "rotated_at"),
    (TOKENS, "revoked_at"),
    (TOKENS, "dpop_jkt"),
    (GRANTS, "revoked_at"),
    (GRANTS, "id"),
    (GRANTS, "person_id"),
    (GRANTS, "subject"),
    (GRANTS, "auth_time"),
    (GRANTS, "acr"),
    (GRANTS, "amr"),
    (GRANTS, "organisation_id"),
    (GRANTS, "organisation_subject"),
    (GRANTS, "session_id"),
    (PERSONS, "status"),
    (PERSONS, "name"),
    (PERSONS, "id_number_masked"),
)


@dataclass(frozen=True)
class Presented:
    """A refresh token found usable, with what its grant and person say."""

    scope: str
    principal: Principal
    person_name: str
    person_id_number_masked: str


def usable(found: Found | None, client_id: str, now: datetime) -> Presented | None:
    """The row as the general path would judge it, or None: not decided here."""
    if (
        found is None
        or found.revoked_at is not None
        or found.rotated_at is not None  # a reuse: the general path revokes the grant
        or found.expires_at <= now
        or found.grant_revoked_at is not None
        or found.client_id != client_id  # RefreshRecord.check_client
        or found.dpop_jkt is not None  # RFC 9449 §5.2: the general path checks the proof
        or found.person_status != "active"
        or found.person_name is None
        or found.person_id_number_masked is None
    ):
        return None
    principal = principal_of_grant(found)
    if principal is None:
        return None
    return Presented(
        found.scope,
        principal,
        found.person_name,
        found.person_id_number_masked,
    )


def refresh_token_columns(
    token_hash: str,
    grant_id: str,
    client_id: str,
    scope: str,
    issued_at: datetime,
    lifetime: timedelta,
    dpop_jkt: str | None,
) -> dict[str, Any]:
    """A new refresh token's row (only its keyed hash is stored), on either path."""
    return {
        "token_hash": token_hash,
        "grant_id": grant_id,
        "client_id": client_id,
        "scope": scope,
        "issued_at": issued_at,
        "expires_at": issued_at + lifetime,
        "dpop_jkt": dpop_jkt,
    }


class RefreshRotation:
    """The rotation's statements, made once for the engine's dialect (names and placeholders
    only; every value is a parameter), and where they are sent: SQLite, in
    :meth:`transaction`, on the event loop or on a thread; PostgreSQL
    (:attr:`through_libpq`), by :meth:`read_on_loop` and :meth:`rotate_on_loop`, through
    libpq from the event loop."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connections = ThreadConnections(engine)
        self.through_libpq = engine.dialect.name == "postgresql"
        self._pool = (
            LibpqPool("refresh-rotation", AsyncPostgres(engine), size=LOOP_CONNECTIONS)
            if self.through_libpq
            else None
        )
        # SQLite: the event loop's own connection (never waits) and its commits
        self._here = DriverConnection(engine, wait_when_busy=False)
        self.commits_here = 0
        p = PLACEHOLDERS[engine.dialect.paramstyle]
        names = {TOKENS: "t", GRANTS: "g", PERSONS: "p"}
        selected = ", ".join(f"{names[table]}.{column}" for table, column in _SELECTED)
        self.read_sql = (
            f"SELECT {selected} FROM {TOKENS.name} t "  # noqa: S608
            f"JOIN {GRANTS.name} g ON g.id = t.grant_id "
            f"LEFT JOIN {PERSONS.name} p ON p.id = g.person_id "
            f"WHERE t.token_hash = {p}"
        )
        self.claim_sql = (
            f"UPDATE {TOKENS.name} SET rotated_at = {p} "  # noqa: S608
            f"WHERE token_hash = {p} AND rotated_at IS NULL"
        )
        self.insert_access_token_sql = access_token_ledger.insert_sql(p, 1)
        self.insert_refresh_token_sql = (
            f"INSERT INTO {TOKENS.name} ({', '.join(REFRESH_COLUMNS)}) "  # noqa: S608
            f"VALUES ({', '.join([p] * len(REFRESH_COLUMNS))})"
        )
        # PostgreSQL only: the claim and both inserts in one statement, the inserts only if
        # the claim changed a row; the values cast to their columns' types (in a SELECT list
        # a parameter's type would otherwise be unknown)
        self.rotate_sql = ""
        if self.through_libpq:
            access = _insert_when_claimed(
                engine, access_token_ledger.TOKENS, access_token_ledger.COLUMNS, p
            )
            self.rotate_sql = (
                f"WITH claimed AS ({self.claim_sql} RETURNING 1), access_token AS ({access}) "
                f"{_insert_when_claimed(engine, TOKENS, REFRESH_COLUMNS, p)}"
            )
        self.read_converters = [
            result_converters(engine, table, [column])[0] for table, column in _SELECTED
        ]
        self.now_converter = driver_converters(engine, TOKENS, ["rotated_at"])[0]
        self.access_token_converters = driver_converters(
            engine, access_token_ledger.TOKENS, access_token_ledger.COLUMNS
        )
        self.refresh_token_converters = driver_converters(engine, TOKENS, REFRESH_COLUMNS)

    @contextmanager
    def transaction(self, *, here: bool = False) -> Iterator[Rotation]:
        """SQLite: one transaction, committed at the end, rolled back on any exception. On
        this thread's connection after this process's other writers; ``here`` (on the event
        loop): on the loop's own connection, which never waits: raises
        :class:`~core.db.engine.WriteTurnTaken` before anything is read if another writer of
        the process has the turn (and ``OperationalError`` if another process holds the
        lock)."""
        if self.through_libpq:
            raise RuntimeError("on PostgreSQL the rotation is sent from the event loop")
        connection = self._here if here else self._connections.get()
        with write_turn(self._engine, wait=not here), connection.transaction():
            yield Rotation(self, connection)
        if here:
            self.commits_here += 1
            if self.commits_here % CHECKPOINT_EVERY == 0:
                asyncio.get_running_loop().run_in_executor(None, self.checkpoint)

    def checkpoint(self) -> None:
        """Copy the WAL's committed pages into the database file, on this thread's
        connection, without waiting for readers or writers (``PRAGMA wal_checkpoint
        (PASSIVE)``): what the loop's connection leaves undone."""
        try:
            self._connections.get().execute("PRAGMA wal_checkpoint(PASSIVE)", ())
        except SQLAlchemyError as exc:  # the next one will do it
            log.warning("refresh rotation: WAL checkpoint failed: %s", exc)

    async def read_on_loop(
        self, token_hash: str, client_id: str, now: datetime
    ) -> Presented | None:
        """PostgreSQL: :meth:`Rotation.read`, one statement sent from the event loop."""
        assert self._pool is not None
        rows = await self._pool.query("govtrust_refresh_read", self.read_sql, [token_hash])
        return self.presented(rows, client_id, now)

    async def rotate_on_loop(
        self,
        token_hash: str,
        now: datetime,
        access_token: AccessTokenRecord,
        refresh_token: dict[str, Any],
    ) -> bool:
        """PostgreSQL: :meth:`Rotation.rotate`, one statement sent from the event loop."""
        assert self._pool is not None
        claim, access, refresh = self.parameters(token_hash, now, access_token, refresh_token)
        changed = await self._pool.execute(
            "govtrust_refresh_rotate", self.rotate_sql, claim + access + refresh
        )
        return changed == 1

    def presented(
        self, rows: Sequence[Sequence[Any]], client_id: str, now: datetime
    ) -> Presented | None:
        """What :attr:`read_sql`'s rows say (:func:`usable`)."""
        if len(rows) != 1:
            return None
        converted = (
            convert(value) for convert, value in zip(self.read_converters, rows[0], strict=True)
        )
        return usable(Found(*converted), client_id, now)

    def parameters(
        self,
        token_hash: str,
        now: datetime,
        access_token: AccessTokenRecord,
        refresh_token: dict[str, Any],
    ) -> tuple[list[Any], list[Any], list[Any]]:
        """The claim's, the access token row's and the refresh token row's parameters,
        converted by the columns' own types (:func:`refresh_token_columns` for the last)."""
        claim = [self.now_converter(now), token_hash]
        access = [
            convert(getattr(access_token, column))
            for column, convert in zip(
                access_token_ledger.COLUMNS, self.access_token_converters, strict=True
            )
        ]
        refresh = [
            convert(refresh_token[column])
            for column, convert in zip(REFRESH_COLUMNS, self.refresh_token_converters, strict=True)
        ]
        return claim, access, refresh

    def close(self) -> None:
        self._connections.close()
        self._here.close()
        if self._pool is not None:
            self._pool.close()


class Rotation:
    """The statements of one rotation, inside :meth:`RefreshRotation.transaction` (SQLite)."""

    def __init__(self, statements: RefreshRotation, connection: DriverConnection) -> None:
        self._statements = statements
        self._connection = connection

    def read(self, token_hash: str, client_id: str, now: datetime) -> Presented | None:
        rows = self._connection.query(self._statements.read_sql, [token_hash])
        return self._statements.presented(rows, client_id, now)

    def rotate(
        self,
        token_hash: str,
        now: datetime,
        access_token: AccessTokenRecord,
        refresh_token: dict[str, Any],
    ) -> bool:
        """Mark the token rotated and store its successors' rows (:func:`refresh_token_columns`
        for the refresh token's); False, and nothing stored, if another request rotated it
        first (or it is gone)."""
        statements = self._statements
        claim, access, refresh = statements.parameters(token_hash, now, access_token, refresh_token)
        connection = self._connection
        if connection.execute_count(statements.claim_sql, claim) != 1:
            return False
        connection.execute_count(statements.insert_access_token_sql, access)
        connection.execute_count(statements.insert_refresh_token_sql, refresh)
        return True


def _insert_when_claimed(engine: Engine, table: Table, columns: Sequence[str], p: str) -> str:
    """``INSERT`` of one row of ``columns`` into ``table`` for each row of ``claimed``."""
    values = ", ".join(
        f"CAST({p} AS {table.c[name].type.compile(dialect=engine.dialect)})" for name in columns
    )
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {values} FROM claimed"
    )
