"""The access-token rows of the hot path, written and read in batches (group commit).

Every JWT access token has a row (:class:`~idp.oauth.storage.AccessTokenRow`) so that
revocation reaches a self-contained token (RFC 7009 §2, RFC 7662 §2.2), except a client's
token for itself where the deployment chose none (:mod:`idp.oauth.rowless_tokens`): its
row is written only when it is revoked. The hot path
(:mod:`idp.hotpath`) writes the row of each token it issues before answering, and reads the
row of each token it introspects, one statement per batch of concurrent requests, not per
request.

Each backend's rows go where they cost least (measured, ``bench/PROFILE.md``):

- PostgreSQL: new rows from the event loop itself over asynchronous connections
  (:class:`~core.db.loop_batching.LoopBatches`), as prepared statements sent through libpq
  (:mod:`core.db.libpq_statements`), two batches in flight per loop, so that one is
  written while the other waits for the disk; lookups on a batch thread
  (:class:`~core.db.batching.BatchRunner`), and only for tokens not already known to be
  usable: a worker remembers the tokens it found usable until a revocation, here or in
  another process, may have changed that (:mod:`idp.oauth.usable_token_memory`).
- SQLite (the embedded default): new rows on a batch thread, since a writer may wait for
  SQLite's one write lock; a lookup on the event loop itself: one primary-key lookup in the
  process's own file costs less than the hand-off to a thread, and in WAL mode a reader
  never waits for a writer; its connection does not wait for locks at all (busy timeout
  zero), so in the rare case that it would have to, the read fails and the hot path leaves
  the request to the general path. Tokens found usable are remembered here too, until a
  revocation committed by any connection may have changed that
  (:class:`~idp.oauth.usable_token_memory.RevocationCounter`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Engine, Table
from sqlalchemy.orm import Session, sessionmaker

from core.db.async_postgres import AsyncPostgres
from core.db.batching import BatchRunner
from core.db.driver_connection import DriverConnection, driver_converters
from core.db.engine import write_turn
from core.db.libpq_statements import LibpqConnection
from core.db.loop_batching import LoopBatches
from core.db.notifications import ChannelListener
from idp.oauth.storage import AccessTokenRow, GrantRow, access_token_usable
from idp.oauth.tokens import IssuedAccessToken
from idp.oauth.usable_token_memory import (
    CHANNEL,
    LocalRevocations,
    RevocationCounter,
    UsableTokenMemory,
    triggers_installed,
)


@dataclass(frozen=True)
class AccessTokenRecord:
    """What is stored of an issued access token (never the token itself)."""

    jti: str
    client_id: str
    subject: str
    scope: str
    issued_at: datetime
    expires_at: datetime
    grant_id: str | None = None
    dpop_jkt: str | None = None

    @classmethod
    def of(
        cls,
        issued: IssuedAccessToken,
        client_id: str,
        scope: str,
        grant_id: str | None = None,
        dpop_jkt: str | None = None,
    ) -> AccessTokenRecord:
        return cls(
            issued.jti,
            client_id,
            issued.subject,
            scope,
            issued.issued_at,
            issued.expires_at,
            grant_id,
            dpop_jkt,
        )

    def columns(self) -> dict[str, Any]:
        """The :class:`~idp.oauth.storage.AccessTokenRow` columns."""
        return dict(vars(self))


# PostgreSQL, per event loop: batches of new rows in flight at once (each waits for its
# commit to reach the disk before its tokens are answered)
WRITERS = 2
TOKENS: Table = AccessTokenRow.__table__  # type: ignore[assignment]
GRANTS: Table = GrantRow.__table__  # type: ignore[assignment]
COLUMNS = (
    "jti",
    "grant_id",
    "client_id",
    "subject",
    "scope",
    "issued_at",
    "expires_at",
    "dpop_jkt",
)


@cache  # built once per batch size, not for every batch of the hot path
def insert_sql(placeholder: str, rows: int) -> str:
    """One multi-row ``INSERT``: all the rows or none. Names and placeholders only; every
    value is a parameter."""
    row = f"({', '.join([placeholder] * len(COLUMNS))})"
    return (
        f"INSERT INTO {TOKENS.name} ({', '.join(COLUMNS)}) "  # noqa: S608
        f"VALUES {', '.join([row] * rows)}"
    )


def select_sql(placeholder: str, jtis: int) -> str:
    """The rows of ``jtis`` tokens with their grants (names and placeholders only)."""
    return (
        f"SELECT t.jti, t.revoked_at, t.grant_id, g.id, g.revoked_at FROM {TOKENS.name} t "  # noqa: S608
        f"LEFT JOIN {GRANTS.name} g ON g.id = t.grant_id "
        f"WHERE t.jti IN ({', '.join([placeholder] * jtis)})"
    )


# whether a token without a row was issued without one (asked only when needed)
Rowless = Callable[[], bool]


def usable_of(jtis: list[str], rows: Sequence[tuple[Any, ...]]) -> list[bool | None]:
    """For each of ``jtis``, whether its row (among ``rows``, :func:`select_sql`'s) says it
    may be used (:func:`~idp.oauth.storage.access_token_usable`); None: it has no row."""
    usable = {
        jti: access_token_usable(
            revoked_at=revoked_at,
            grant_id=grant_id,
            grant_found=grant_row is not None,
            grant_revoked_at=grant_revoked_at,
        )
        for jti, revoked_at, grant_id, grant_row, grant_revoked_at in rows
    }
    return [usable.get(jti) for jti in jtis]


def verdict(found: bool | None, rowless: Rowless) -> bool:
    """What a token's row, or its absence, says: no row, usable only if the token was
    issued without one (:mod:`idp.oauth.rowless_tokens`) and so not revoked since."""
    return rowless() if found is None else found


def never() -> bool:
    return False


class AccessTokenLedger:
    """Writes and reads the hot path's access-token rows, in batches."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        wait_for_flush: bool = True,
        remember_usable: bool = True,
    ) -> None:
        engine: Engine = sessions.kw["bind"]
        self._converters = driver_converters(engine, TOKENS, COLUMNS)
        # ``wait_for_flush=False`` (a deployment's choice, settings.access_token_rows_flushed,
        # PostgreSQL only): a new row is committed and visible to every worker before its
        # token is returned, without waiting for the disk (core.db.async_postgres); a row
        # lost in a crash of the database makes its token inactive, never a revoked one
        # active again. ``remember_usable=False`` (settings.introspection_remembers_usable_
        # tokens): every lookup reads the row
        self._backend: _SqliteRows | _PostgresRows = (
            _SqliteRows(engine, remember=remember_usable)
            if engine.dialect.name == "sqlite"
            else _PostgresRows(engine, wait_for_flush=wait_for_flush, remember=remember_usable)
        )

    async def record(self, record: AccessTokenRecord) -> None:
        """Store the row; returns once it is committed."""
        await self._backend.writes.submit(self._parameters(record))

    async def usable(self, jti: str, *, rowless: Rowless = never) -> bool:
        """Whether the token's row says it may still be used (its signature and times are
        checked elsewhere): :func:`verdict`. ``rowless``: whether the token was issued
        without a row (:func:`~idp.oauth.rowless_tokens.is_rowless`), asked only when the
        row is looked up and not found."""
        return await self._backend.usable(jti, rowless)

    def _parameters(self, record: AccessTokenRecord) -> list[Any]:
        return [
            convert(getattr(record, column))
            for column, convert in zip(COLUMNS, self._converters, strict=True)
        ]

    def close(self) -> None:
        self._backend.close()


Row = list[Any]  # one token's parameters, in COLUMNS' order


class _SqliteRows:
    """Writes on a batch thread (it may wait for the write lock), reads on the event loop
    (a lookup in the process's own file; busy timeout zero), and only for tokens not
    already known to be usable (:mod:`idp.oauth.usable_token_memory`)."""

    def __init__(self, engine: Engine, *, remember: bool) -> None:
        self._engine = engine
        self._writer = DriverConnection(engine)
        self.reader = DriverConnection(engine, wait_when_busy=False)
        self.memory = UsableTokenMemory()  # stays off unless the counter says it may be on
        self._counter = RevocationCounter(self.memory) if remember else None
        self.writes: BatchRunner[Row, None] = BatchRunner("access-token-writes", self._write)

    def _write(self, rows: list[Row]) -> list[None]:
        sql = insert_sql(self._writer.placeholder, len(rows))
        with write_turn(self._engine):  # after this process's other writers
            self._writer.execute(sql, [value for row in rows for value in row])
        return [None] * len(rows)

    async def usable(self, jti: str, rowless: Rowless) -> bool:
        if self._counter is not None:
            self._counter.check(self.reader)
            if self.memory.knows(jti):
                return True
        generation = self.memory.generation
        rows = self.reader.query(select_sql(self.reader.placeholder, 1), [jti])
        usable = verdict(usable_of([jti], rows)[0], rowless)
        if usable:
            self.memory.remember(jti, generation)
        return usable

    def close(self) -> None:
        self.writes.close()
        self._writer.close()
        self.reader.close()


class _PostgresRows:
    """Writes from the event loop over asynchronous connections, two batches in flight;
    reads on a batch thread, and only for tokens not already known to be usable
    (:mod:`idp.oauth.usable_token_memory`).

    Measured both ways on two workers (``bench/PROFILE.md``, fourth pass): writes from the
    loop cost less CPU than handing them to two writer threads and raised client
    credentials by about a sixth, while reads from the loop cost more than through the
    read thread (introspection about a sixth slower), so each goes the cheaper way."""

    def __init__(self, engine: Engine, *, wait_for_flush: bool, remember: bool) -> None:
        self.memory = UsableTokenMemory()  # stays off unless the listener says it may be on
        # watching this process's statements is needed only if the memory may ever be on
        self._local_revocations = LocalRevocations(engine, self.memory) if remember else None
        self.listener = ChannelListener(
            engine,
            CHANNEL,
            on_notify=self.memory.forget_all,
            on_ready=self.memory.switch_on,
            on_lost=self.memory.switch_off,
            ready_check=triggers_installed,
        )
        self._remember = remember
        self.write_connections = AsyncPostgres(engine, wait_for_flush=wait_for_flush)
        self.writes: LoopBatches[LibpqConnection, Row, None] = LoopBatches(
            "access-token-writes",
            connect=self._connect_writer,
            run=self._write,
            discard=LibpqConnection.discard,
            connections=WRITERS,
        )
        self.reader = DriverConnection(engine)  # the read thread's own
        self.reads: BatchRunner[str, bool | None] = BatchRunner("access-token-reads", self._read)

    async def _connect_writer(self) -> LibpqConnection:
        return await LibpqConnection.open(self.write_connections)

    async def _write(self, connection: LibpqConnection, rows: list[Row]) -> list[None]:
        sql = insert_sql(AsyncPostgres.placeholder, len(rows))
        parameters = [value for row in rows for value in row]
        await connection.execute_prepared(f"govtrust_access_tokens_{len(rows)}", sql, parameters)
        return [None] * len(rows)

    def _read(self, jtis: list[str]) -> list[bool | None]:
        wanted = sorted(set(jtis))
        sql = select_sql(self.reader.placeholder, len(wanted))
        return usable_of(jtis, self.reader.query(sql, wanted))

    async def usable(self, jti: str, rowless: Rowless) -> bool:
        if self.memory.knows(jti):
            return True
        if self._remember:
            self.listener.start()  # once: the memory is on while it listens
        generation = self.memory.generation
        usable = verdict(await self.reads.submit(jti), rowless)
        if usable:
            self.memory.remember(jti, generation)
        return usable

    def close(self) -> None:
        self.listener.close()
        if self._local_revocations is not None:
            self._local_revocations.close()
        self.writes.close()
        self.reads.close()
        self.reader.close()
