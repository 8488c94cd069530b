"""A refresh token's rotation on PostgreSQL: two statements, each a prepared statement sent
from the event loop through libpq (:class:`~core.db.libpq_pool.LibpqPool`), which costs less
than psycopg's cursor on a thread and the hand-off to that thread (eleventh pass of
``bench/PROFILE.md``).

The read is a statement of its own; the rotation one more, the claim and both inserts in one
statement (data-modifying ``WITH``, PostgreSQL documentation §7.8.4), atomic as every
statement is: two statements instead of six (ninth pass). The read outside the claim's
transaction judges no less than one inside it would: under ``READ COMMITTED`` a
transaction's statements each see what was committed when they began, so a revocation
between the read and the claim would not be seen by the read either way, and the claim's
``WHERE`` decides the race.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table

from core.db.async_postgres import AsyncPostgres
from core.db.libpq_pool import LibpqPool
from idp.oauth import access_token_ledger
from idp.oauth.access_token_ledger import AccessTokenRecord
from idp.oauth.refresh_rotation import REFRESH_COLUMNS, TOKENS, Presented, RotationStatements

# per event loop: connections for the read and the rotation (one statement each at a time)
LOOP_CONNECTIONS = 4


class PostgresRefreshRotation(RotationStatements):
    """The rotation's two statements and the libpq connections of each event loop."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._pool = LibpqPool("refresh-rotation", AsyncPostgres(engine), size=LOOP_CONNECTIONS)
        # the claim and both inserts, the inserts only if the claim changed a row; the values
        # cast to their columns' types (in a SELECT list a parameter's type would otherwise
        # be unknown)
        p = self.placeholder
        access = _insert_when_claimed(
            engine, access_token_ledger.TOKENS, access_token_ledger.COLUMNS, p
        )
        self.rotate_sql = (
            f"WITH claimed AS ({self.claim_sql} RETURNING 1), access_token AS ({access}) "
            f"{_insert_when_claimed(engine, TOKENS, REFRESH_COLUMNS, p)}"
        )

    async def read(self, token_hash: str, client_id: str, now: datetime) -> Presented | None:
        """The token's row, its grant and person, as :func:`~idp.oauth.refresh_rotation.
        usable` judges them: one statement."""
        rows = await self._pool.query("govtrust_refresh_read", self.read_sql, [token_hash])
        return self.presented(rows, client_id, now)

    async def rotate(
        self,
        token_hash: str,
        now: datetime,
        access_token: AccessTokenRecord,
        refresh_token: dict[str, Any],
    ) -> bool:
        """Mark the token rotated and store its successors' rows, in one statement; False,
        and nothing stored, if another request rotated it first (or it is gone)."""
        claim, access, refresh = self.parameters(token_hash, now, access_token, refresh_token)
        changed = await self._pool.execute(
            "govtrust_refresh_rotate", self.rotate_sql, claim + access + refresh
        )
        return changed == 1

    def close(self) -> None:
        self._pool.close()


def _insert_when_claimed(engine: Engine, table: Table, columns: Sequence[str], p: str) -> str:
    """``INSERT`` of one row of ``columns`` into ``table`` for each row of ``claimed``."""
    values = ", ".join(
        f"CAST({p} AS {table.c[name].type.compile(dialect=engine.dialect)})" for name in columns
    )
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {values} FROM claimed"
    )
