"""A worker's memory of access tokens whose rows were found usable.

A resource server introspects the same access token for each call it serves, and the
lookup of the token's row was about a third of introspection's CPU on PostgreSQL
(``bench/PROFILE.md``). The ledger (:mod:`idp.oauth.access_token_ledger`) therefore
remembers the ``jti`` of each token whose row it found usable, and answers from memory
until something may have changed. Only "usable" is remembered: a revoked or unknown token
is looked up every time. Signature, ``typ``, ``iss``, ``aud`` and times are checked on
every request by the caller, as before.

When the memory forgets (all of it at once), on PostgreSQL:

* a revocation committed in this process (an ``UPDATE``, ``DELETE`` or ``TRUNCATE`` of
  the token or grant tables, whatever path made it) is forgotten when its connection goes
  back to the pool, which is after its commit and before its request is answered
  (:class:`LocalRevocations`); so this worker never answers "active" for a token after
  answering its revocation;
* a revocation committed in another process (another worker, the CLI) arrives as a
  PostgreSQL notification sent by a trigger (migration 0014), so that no revocation path
  can leave it out; that takes milliseconds, the propagation delay RFC 7009 §2.1 allows
  ("implementations should minimize that window");
* while the listening connection is down, the memory is switched off (every request reads
  the row) and starts empty when it is back, since notifications sent meanwhile are lost.

On SQLite (the embedded default), before every answer from memory
(:class:`RevocationCounter`): when ``PRAGMA data_version`` says another connection, of this
process or another, has committed anything since the last look, a counter that triggers
raise with every revocation (migration 0015) is read, and if it moved the memory forgets.
There is no window: a revocation committed before an introspection starts is seen by it.

A lookup that raced a revocation is never remembered: each lookup notes the memory's
generation before it reads, and its answer is remembered only if nothing was forgotten
since (:meth:`UsableTokenMemory.remember`). Without its migration's triggers the memory
never switches on.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, event

from core.db.driver_connection import DriverConnection

MAX_ENTRIES = 65_536
CHANNEL = "govtrust_token_revocations"  # migration 0014 (PostgreSQL)
TRIGGERS = ("oauth_access_tokens_revocation_notify", "oauth_grants_revocation_notify")
COUNTER = "oauth_revocation_counter"  # migration 0015 (SQLite)
COUNTER_TRIGGERS = (
    "oauth_access_tokens_revoked",
    "oauth_access_tokens_deleted",
    "oauth_grants_revoked",
    "oauth_grants_deleted",
)


class UsableTokenMemory:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: dict[str, None] = {}
        self._generation = 0
        self._on = False

    @property
    def on(self) -> bool:
        return self._on

    @property
    def generation(self) -> int:
        """Note it before a lookup; pass it to :meth:`remember` after."""
        return self._generation

    def knows(self, jti: str) -> bool:
        """Whether the token's row was found usable and nothing was revoked since."""
        return self._on and jti in self._entries

    def remember(self, jti: str, generation: int) -> None:
        with self._lock:
            if not self._on or generation != self._generation:
                return  # switched off, or something was revoked while the row was read
            if len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]  # the oldest out
            self._entries[jti] = None

    def forget_all(self, _payload: object = None) -> None:
        self._start_over(on=None)

    def switch_on(self) -> None:
        self._start_over(on=True)

    def switch_off(self) -> None:
        self._start_over(on=False)

    def _start_over(self, *, on: bool | None) -> None:
        """Forget everything; ``on`` switches the memory on or off (None: as it is)."""
        with self._lock:
            if on is not None:
                self._on = on
            self._generation += 1
            self._entries.clear()


class LocalRevocations:
    """Makes ``memory`` forget when this process commits a change that can revoke a token
    (:data:`WATCHED` tables; ``UPDATE``, ``DELETE``, ``TRUNCATE``): the statement marks its
    pooled connection, and the connection's return to the pool, after the commit, empties
    the memory. Remove with :meth:`close`."""

    WATCHED = ("oauth_access_tokens", "oauth_grants")

    def __init__(self, engine: Engine, memory: UsableTokenMemory) -> None:
        self._engine = engine
        self._memory = memory
        self._mark = f"govtrust_revokes_tokens_{id(self)}"  # each memory of the engine its own
        event.listen(engine, "after_cursor_execute", self._statement)
        event.listen(engine.pool, "checkin", self._checkin)

    def _statement(self, connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        verb = statement.lstrip()[:8].upper()
        if verb.startswith(("UPDATE", "DELETE", "TRUNCATE")) and any(
            table in statement for table in self.WATCHED
        ):
            connection.info[self._mark] = True

    def _checkin(self, _dbapi_connection: Any, record: Any) -> None:
        if record.info.pop(self._mark, False):
            self._memory.forget_all()

    def close(self) -> None:
        """Stop watching (a second call does nothing: services may be closed twice)."""
        for target, name, listener in (
            (self._engine, "after_cursor_execute", self._statement),
            (self._engine.pool, "checkin", self._checkin),
        ):
            if event.contains(target, name, listener):
                event.remove(target, name, listener)


def triggers_installed(connection: Any) -> bool:
    """Whether migration 0014's triggers are on the tables this connection sees (its
    ``search_path``): without them no notification would ever come."""
    row = connection.execute(
        "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname = ANY(%s) "
        "AND tgrelid IN (to_regclass('oauth_access_tokens'), to_regclass('oauth_grants'))",
        [list(TRIGGERS)],
    ).fetchone()
    return row is not None and row[0] == len(TRIGGERS)


class RevocationCounter:
    """SQLite: makes ``memory`` forget when any connection has committed a change that can
    revoke a token. :meth:`check` runs before each answer from memory, on the reader's own
    connection (``reader``: its other statements are lookups, so every change it sees was
    committed by another connection).

    ``PRAGMA data_version`` changes when another connection has committed anything (SQLite
    documentation, "PRAGMA data_version"); only then is migration 0015's counter read, and
    only if it moved does the memory forget, so new tokens written meanwhile do not empty
    it. A reader that opened a new connection starts over (data versions of two connections
    cannot be compared), and without the counter's triggers the memory stays off."""

    def __init__(self, memory: UsableTokenMemory) -> None:
        self._memory = memory
        self._opened = 0  # the reader's connection the values below belong to
        self._installed = False
        self._data_version: int | None = None
        self._changes = 0

    def check(self, reader: DriverConnection) -> None:
        ((data_version,),) = reader.execute("PRAGMA data_version", ())
        if reader.opened != self._opened:
            self._memory.switch_off()
            self._opened = reader.opened
            self._data_version = None
            self._installed = counter_installed(reader)
        if not self._installed or data_version == self._data_version:
            return
        ((changes,),) = reader.execute(f"SELECT changes FROM {COUNTER}", ())  # noqa: S608
        if self._data_version is None:
            self._memory.switch_on()
        elif changes != self._changes:
            self._memory.forget_all()
        self._data_version, self._changes = data_version, changes


def counter_installed(reader: DriverConnection) -> bool:
    """Whether migration 0015's counter and its triggers are in this SQLite database."""
    names = [COUNTER, *COUNTER_TRIGGERS]
    rows = reader.execute(
        f"SELECT count(*) FROM sqlite_master WHERE name IN ({reader.placeholders(len(names))})",  # noqa: S608
        names,
    )
    return bool(rows[0][0] == len(names))
