"""A worker's memory of access tokens whose rows were found usable (PostgreSQL).

A resource server introspects the same access token for each call it serves, and the
lookup of the token's row was about a third of introspection's CPU on PostgreSQL
(``bench/PROFILE.md``). The ledger (:mod:`idp.oauth.access_token_ledger`) therefore
remembers the ``jti`` of each token whose row it found usable, and answers from memory
until something may have changed. Only "usable" is remembered: a revoked or unknown token
is looked up every time. Signature, ``typ``, ``iss``, ``aud`` and times are checked on
every request by the caller, as before.

When the memory forgets (all of it at once):

* a revocation committed in this process (an ``UPDATE``, ``DELETE`` or ``TRUNCATE`` of
  the token or grant tables, whatever path made it) is forgotten when its connection goes
  back to the pool, which is after its commit and before its request is answered
  (:func:`forget_on_local_revocations`); so this worker never answers "active" for a token
  after answering its revocation;
* a revocation committed in another process (another worker, the CLI) arrives as a
  PostgreSQL notification sent by a trigger (migration 0014), so that no revocation path
  can leave it out; that takes milliseconds, the propagation delay RFC 7009 §2.1 allows
  ("implementations should minimize that window");
* while the listening connection is down, the memory is switched off (every request reads
  the row) and starts empty when it is back, since notifications sent meanwhile are lost.

A lookup that raced a revocation is never remembered: each lookup notes the memory's
generation before it reads, and its answer is remembered only if nothing was forgotten
since (:meth:`UsableTokenMemory.remember`).
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, event

MAX_ENTRIES = 65_536
CHANNEL = "govtrust_token_revocations"  # migration 0014
TRIGGERS = ("oauth_access_tokens_revocation_notify", "oauth_grants_revocation_notify")


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
