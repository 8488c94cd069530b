"""A refresh token's rotation on SQLite (the embedded default): the read, the claim and
both new rows in one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``), all or nothing
(:mod:`idp.oauth.refresh_rotation`).

The transaction is made on the event loop itself when no other writer of the process has
the turn (:func:`~core.db.engine.write_turn` without waiting, on a connection that never
waits for a lock; the hand-off to a thread cost more CPU than the whole transaction,
eleventh pass of ``bench/PROFILE.md``), else on a connection of the calling thread's own
(:class:`~core.db.driver_connection.ThreadConnections`), which waits for its turn. The
loop's connection leaves the WAL's checkpoints to a thread, one every
:data:`CHECKPOINT_EVERY` of its commits, so that no commit on the loop waits for the disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from core.db.driver_connection import DriverConnection, ThreadConnections
from core.db.engine import write_turn
from idp.oauth import access_token_ledger
from idp.oauth.access_token_ledger import AccessTokenRecord
from idp.oauth.refresh_rotation import REFRESH_COLUMNS, TOKENS, Presented, RotationStatements

log = logging.getLogger(__name__)

# the event loop's commits between two checkpoints of the WAL, made on a thread (SQLite's
# own automatic checkpoint comes after about 1,000 pages; a rotation writes a few)
CHECKPOINT_EVERY = 100


class SqliteRefreshRotation(RotationStatements):
    """The rotation's statements and the connections that send them: the event loop's own
    and one per thread."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._engine = engine
        self._connections = ThreadConnections(engine)
        self._here = DriverConnection(engine, wait_when_busy=False)  # never waits
        self.commits_here = 0
        p = self.placeholder
        self.insert_access_token_sql = access_token_ledger.insert_sql(p, 1)
        self.insert_refresh_token_sql = (
            f"INSERT INTO {TOKENS.name} ({', '.join(REFRESH_COLUMNS)}) "  # noqa: S608
            f"VALUES ({', '.join([p] * len(REFRESH_COLUMNS))})"
        )

    @contextmanager
    def transaction(self, *, here: bool = False) -> Iterator[Rotation]:
        """One transaction, committed at the end, rolled back on any exception. On this
        thread's connection after this process's other writers; ``here`` (on the event
        loop): on the loop's own connection, which never waits: raises
        :class:`~core.db.engine.WriteTurnTaken` before anything is read if another writer of
        the process has the turn (and ``OperationalError`` if another process holds the
        lock)."""
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

    def close(self) -> None:
        self._connections.close()
        self._here.close()


class Rotation:
    """The statements of one rotation, inside :meth:`SqliteRefreshRotation.transaction`."""

    def __init__(self, statements: SqliteRefreshRotation, connection: DriverConnection) -> None:
        self._statements = statements
        self._connection = connection

    def read(self, token_hash: str, client_id: str, now: datetime) -> Presented | None:
        """The token's row, its grant and person, as :func:`~idp.oauth.refresh_rotation.
        usable` judges them."""
        rows = self._connection.query(self._statements.read_sql, [token_hash])
        return self._statements.presented(rows, client_id, now)

    def rotate(
        self,
        token_hash: str,
        now: datetime,
        access_token: AccessTokenRecord,
        refresh_token: dict[str, Any],
    ) -> bool:
        """Mark the token rotated and store its successors' rows (:func:`~idp.oauth.
        refresh_rotation.refresh_token_columns` for the refresh token's); False, and nothing
        stored, if another request rotated it first (or it is gone)."""
        statements = self._statements
        claim, access, refresh = statements.parameters(token_hash, now, access_token, refresh_token)
        connection = self._connection
        if connection.execute_count(statements.claim_sql, claim) != 1:
            return False
        connection.execute_count(statements.insert_access_token_sql, access)
        connection.execute_count(statements.insert_refresh_token_sql, refresh)
        return True
