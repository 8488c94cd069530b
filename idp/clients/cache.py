"""A short-lived, per-process cache of client registrations for the OAuth endpoints.

Every token, introspection and revocation request authenticates its client, and reading
and decoding the client's row was the largest single cost of a client-credentials token
after the framework's own (``bench/PROFILE.md``). Clients change rarely, so the endpoints
keep them for a few seconds:

* a change made in this process (a write of a :class:`~idp.clients.storage.ClientRow`
  through the ORM: registration, secret rotation, status, policy) empties every client
  cache of the process when it is flushed and again when it is committed, so a rotated
  secret or a disabled client stops working here at once;
* a change made by another process (another uvicorn worker, the CLI) is seen within
  :data:`CLIENT_CACHE_SECONDS`, as key rotation is (``keys.registry``).

Only clients that exist are cached (an unknown ``client_id`` costs a query every time, so
random ids cannot fill the memory), at most :data:`MAX_ENTRIES` of them, least recently used
first out. The cached :class:`~idp.clients.models.Client` holds the keyed hash of the
secret, never the secret.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

from idp.clients.models import Client
from idp.clients.storage import ClientRow

CLIENT_CACHE_SECONDS = 5.0
MAX_ENTRIES = 10_000
_CHANGED = "govtrust_clients_changed"

_generation_lock = threading.Lock()
_generation = 0


def generation() -> int:
    """Counts the client changes this process has made (every cache compares it)."""
    return _generation


def clients_changed() -> None:
    """Make every client cache of this process forget what it holds."""
    global _generation
    with _generation_lock:
        _generation += 1


def _row_written(_mapper: Any, _connection: Any, target: ClientRow) -> None:
    clients_changed()
    session = object_session(target)
    if session is not None:
        session.info[_CHANGED] = True


def _after_commit(session: Session) -> None:
    # Once more after the commit: a request may have read the old row between the flush
    # and the commit, and must not keep it.
    if session.info.pop(_CHANGED, False):
        clients_changed()


for _event in ("after_insert", "after_update", "after_delete"):
    event.listen(ClientRow, _event, _row_written)
event.listen(Session, "after_commit", _after_commit)


class ClientCache:
    """Clients by id for ``ttl`` seconds, dropped whenever this process changes a client."""

    def __init__(
        self,
        ttl: float = CLIENT_CACHE_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, int, Client]] = OrderedDict()

    def peek(self, client_id: str) -> Client | None:
        """The client if this cache holds it and it is still fresh; never loads it."""
        seen = generation()
        with self._lock:
            entry = self._entries.get(client_id)
            if entry is not None and entry[0] > self.clock() and entry[1] == seen:
                self._entries.move_to_end(client_id)
                return entry[2]
        return None

    def get(self, client_id: str, load: Callable[[], Client | None]) -> Client | None:
        """The client from the cache, or from ``load`` (cached when it exists)."""
        seen = generation()  # before reading: a change during the read makes it stale
        now = self.clock()
        cached = self.peek(client_id)
        if cached is not None:
            return cached
        client = load()
        with self._lock:
            if client is None:
                self._entries.pop(client_id, None)
            else:
                self._entries[client_id] = (now + self.ttl, seen, client)
                self._entries.move_to_end(client_id)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return client

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
