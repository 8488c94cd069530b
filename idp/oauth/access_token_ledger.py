"""The access-token rows of the hot path, written and read in batches (group commit).

Every JWT access token has a row (:class:`~idp.oauth.storage.AccessTokenRow`) so that
revocation reaches a self-contained token (RFC 7009 §2, RFC 7662 §2.2). The hot path
(:mod:`idp.hotpath`) writes the row of each token it issues before answering, and reads the
row of each token it introspects, through :class:`~core.db.batching.BatchRunner`: one
transaction and one thread hand-off per batch of concurrent requests, not per request.

On SQLite (the embedded default) a read is made on the event loop itself: one primary-key
lookup in the process's own file costs less than the hand-off to a thread, and in WAL mode
a reader never waits for a writer; its connection does not wait for locks at all (busy
timeout zero), so in the rare case that it would have to, the read fails and the hot path
leaves the request to the general path. Writes always go through the thread: a writer may
wait for SQLite's one write lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from core.db.batching import BatchRunner
from core.db.driver_connection import DriverConnection
from core.db.engine import write_turn
from idp.oauth.storage import AccessTokenRow, GrantRow, access_token_usable
from idp.oauth.tokens import IssuedAccessToken


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


# batches of new rows in flight at once on PostgreSQL (each waits for its commit to reach
# the disk before its tokens are answered)
WRITERS = 2
TOKENS: Table = AccessTokenRow.__table__  # type: ignore[assignment]
GRANTS: Table = GrantRow.__table__  # type: ignore[assignment]


class AccessTokenLedger:
    """One multi-row ``INSERT`` per batch of new tokens and one ``SELECT`` per batch of
    lookups, each batch thread on its own driver connection
    (:class:`~core.db.driver_connection.DriverConnection`)."""

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

    def __init__(self, sessions: sessionmaker[Session], *, wait_for_flush: bool = True) -> None:
        engine = self._engine = sessions.kw["bind"]
        on_sqlite = engine.dialect.name == "sqlite"
        # PostgreSQL: two batches in flight, so that one is written while the other waits
        # for the disk; SQLite has one writer at a time anyway.
        # ``wait_for_flush=False`` (a deployment's choice, settings.access_token_rows_flushed):
        # a new row is committed and visible to every worker before its token is returned,
        # without waiting for the disk (DriverConnection); a row lost in a crash of the
        # database makes its token inactive, never a revoked one active again
        self._writers = [
            DriverConnection(engine, wait_for_flush=wait_for_flush)
            for _ in range(1 if on_sqlite else WRITERS)
        ]
        self._writer = self._writers[0]
        self._idle_writers = list(reversed(self._writers))  # a stack: the first on top
        self._writers_lock = threading.Lock()
        self._inline_reads = on_sqlite
        self._reader = DriverConnection(engine, wait_when_busy=not self._inline_reads)
        self._reader_lock = threading.Lock()  # a connection serves one thread at a time
        self._converters = self._writer.converters(TOKENS, self.COLUMNS)
        self._writes: BatchRunner[AccessTokenRecord, None] = BatchRunner(
            "access-token-writes", self._write, threads=len(self._writers)
        )
        self._reads: BatchRunner[str, bool] = BatchRunner("access-token-reads", self._read)

    async def record(self, record: AccessTokenRecord) -> None:
        """Store the row; returns once it is committed."""
        await self._writes.submit(record)

    async def usable(self, jti: str) -> bool:
        """Whether the token's row says it may still be used (its signature and times are
        checked elsewhere): :func:`~idp.oauth.storage.access_token_usable`; no row, no."""
        if self._inline_reads:
            return self._read([jti])[0]
        return await self._reads.submit(jti)

    def _write(self, records: list[AccessTokenRecord]) -> list[None]:
        # Only names and placeholders go into the text; every value is a parameter.
        row = f"({self._writer.placeholders(len(self.COLUMNS))})"
        sql = (
            f"INSERT INTO {TOKENS.name} ({', '.join(self.COLUMNS)}) "  # noqa: S608
            f"VALUES {', '.join([row] * len(records))}"
        )
        parameters = [
            convert(getattr(record, column))
            for record in records
            for column, convert in zip(self.COLUMNS, self._converters, strict=True)
        ]
        with self._writers_lock:
            writer = self._idle_writers.pop()  # one per batch thread: never empty
        try:
            with write_turn(self._engine):  # SQLite: after this process's other writers
                writer.execute(sql, parameters)  # one statement: all rows or none
        finally:
            with self._writers_lock:
                self._idle_writers.append(writer)
        return [None] * len(records)

    def _read(self, jtis: list[str]) -> list[bool]:
        wanted = sorted(set(jtis))
        sql = (  # names and placeholders only; the jtis are parameters
            f"SELECT t.jti, t.revoked_at, t.grant_id, g.id, g.revoked_at FROM {TOKENS.name} t "  # noqa: S608
            f"LEFT JOIN {GRANTS.name} g ON g.id = t.grant_id "
            f"WHERE t.jti IN ({self._reader.placeholders(len(wanted))})"
        )
        with self._reader_lock:
            rows = self._reader.execute(sql, wanted)
        usable = {
            jti: access_token_usable(
                revoked_at=revoked_at,
                grant_id=grant_id,
                grant_found=grant_row is not None,
                grant_revoked_at=grant_revoked_at,
            )
            for jti, revoked_at, grant_id, grant_row, grant_revoked_at in rows
        }
        return [usable.get(jti, False) for jti in jtis]

    def close(self) -> None:
        self._writes.close()
        self._reads.close()
        for writer in self._writers:
            writer.close()
        with self._reader_lock:
            self._reader.close()
