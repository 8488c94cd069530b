"""Listening to a PostgreSQL notification channel on a thread of its own (``LISTEN``).

:class:`ChannelListener` keeps one connection, in autocommit mode, listening on one channel
and calls ``on_notify`` for each notification (PostgreSQL documentation, ``NOTIFY``: it is
delivered when the notifying transaction commits, never for one that rolls back). What was
sent while no connection was listening is lost, so a listener says when it can be relied
on: ``on_ready`` once ``LISTEN`` is in place (and ``ready_check``, if given, has passed on
the same connection), ``on_lost`` as soon as the connection fails; it then connects again,
waiting a little longer each time (up to :data:`RETRY_MAX_SECONDS`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import psycopg
from sqlalchemy import Engine

from core.db.engine import driver_connect_params

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2  # how soon a closed listener notices (close waits for it)
RETRY_MAX_SECONDS = 5.0


class ChannelListener:
    def __init__(
        self,
        engine: Engine,
        channel: str,
        *,
        on_notify: Callable[[str], None],
        on_ready: Callable[[], None],
        on_lost: Callable[[], None],
        ready_check: Callable[[psycopg.Connection[Any]], bool] | None = None,
    ) -> None:
        if not channel.isidentifier():
            raise ValueError("the channel must be a plain identifier")
        # the engine's CONNECTION_BOUNDS: a listener, which sends nothing while it waits,
        # notices a dead peer by the keepalives within about 20 s
        self._params = driver_connect_params(engine)
        self._channel = channel
        self._on_notify = on_notify
        self._on_ready = on_ready
        self._on_lost = on_lost
        self._ready_check = ready_check
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.backend_pid: int | None = None  # of the listening connection (tests)

    def start(self) -> None:
        """Start listening, once; later calls do nothing."""
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name=f"govtrust-listen-{self._channel}", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        wait = 0.2
        while not self._stop.is_set():
            try:
                with psycopg.connect(autocommit=True, **self._params) as connection:
                    if self._listen(connection):
                        wait = 0.2
                        self._deliver(connection)
                    else:
                        return  # never reliable here (ready_check): stay off
            except psycopg.Error as exc:
                log.warning("listening on %s failed: %s", self._channel, exc)
            finally:
                self.backend_pid = None
                self._on_lost()
            self._stop.wait(wait)
            wait = min(wait * 2, RETRY_MAX_SECONDS)

    def _listen(self, connection: psycopg.Connection[Any]) -> bool:
        connection.execute(f"LISTEN {self._channel}")
        if self._ready_check is not None and not self._ready_check(connection):
            return False
        self.backend_pid = connection.info.backend_pid
        self._on_ready()
        return True

    def _deliver(self, connection: psycopg.Connection[Any]) -> None:
        while not self._stop.is_set():
            for notification in connection.notifies(timeout=POLL_SECONDS):
                self._on_notify(notification.payload)

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            with suppress(RuntimeError):
                thread.join(timeout)
