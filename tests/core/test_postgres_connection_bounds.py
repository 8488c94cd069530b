"""A PostgreSQL server cut off by the network costs an error within a bound, not a wait.

Every connection the service opens to PostgreSQL (the engine's pool, the hot path's libpq
connections, the notification listeners) takes its parameters from the engine, which sets
libpq's ``connect_timeout``, keepalives and ``tcp_user_timeout`` (``CONNECTION_BOUNDS``,
PostgreSQL documentation, "Parameter Key Words"). Without them a statement sent into a
partition waits for the kernel's retransmissions, about 15 minutes, holding its thread.

The partition is real: the connections go through a TCP forwarder on a port of their own
(the shared server's port is everyone's), and ``tests/network_partition.py`` drops every
packet between the clients and the forwarder and between the forwarder and PostgreSQL, so
that neither end hears from the other. Needs root and iptables; skipped without them, and
failed instead in CI. A whole service under load across a partition:
``tests/security/test_fault_postgres_partition.py``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, suppress
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from core.db import engine as engine_module
from core.db.engine import (
    CONNECTION_BOUNDS,
    SERVER_SETTINGS,
    driver_connect_params,
    make_engine,
    ping,
)
from tests.conftest import PG_URL, _need
from tests.network_partition import iptables, packets_dropped
from tests.thread_outcome import in_thread

# the engine's bounds made small, so that each case takes seconds
SMALL_BOUNDS = {
    **CONNECTION_BOUNDS,
    "connect_timeout": 1,
    "keepalives_idle": 1,
    "keepalives_interval": 1,
    "tcp_user_timeout": 1000,
}
SMALL_SERVER_BOUNDS = {
    **SERVER_SETTINGS,
    "tcp_keepalives_idle": "1",
    "tcp_keepalives_interval": "1",
    "tcp_keepalives_count": "2",
    "tcp_user_timeout": "1000",
}
# what a statement or a connection across the partition may take at most, with room for a
# busy machine: the pool's pre-ping (1 s unacknowledged), then a new connection (1 s)
WITHIN_SECONDS = 6.0


def test_every_connection_carries_the_bounds_unless_the_url_sets_its_own() -> None:
    url = "postgresql://govtrust@db.example:5432/govtrust"
    assert CONNECTION_BOUNDS["tcp_user_timeout"] > 0
    assert CONNECTION_BOUNDS["connect_timeout"] > 0
    assert driver_connect_params(make_engine(url)).items() >= CONNECTION_BOUNDS.items()

    params = driver_connect_params(make_engine(f"{url}?connect_timeout=2&keepalives=0"))
    assert params["connect_timeout"] == "2"
    assert params["keepalives"] == "0"
    assert params["tcp_user_timeout"] == CONNECTION_BOUNDS["tcp_user_timeout"]


def test_the_server_s_end_is_bounded_too_unless_the_url_gives_its_own_options() -> None:
    url = "postgresql://govtrust@db.example:5432/govtrust"
    options = driver_connect_params(make_engine(url, schema="t_1"))["options"]
    for key, value in SERVER_SETTINGS.items():
        assert f"-c {key}={value}" in options
    assert options.endswith("-c search_path=t_1")

    own = driver_connect_params(make_engine(f"{url}?options=-c%20work_mem%3D8MB"))
    assert own["options"] == "-c work_mem=8MB"


class Partition:
    """A TCP forwarder to PostgreSQL on a port of its own, which can be cut off: every
    packet between the clients and the forwarder and between the forwarder and PostgreSQL
    dropped, either way, so that neither end hears from the other."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._upstream_ports: list[int] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                server = socket.create_connection(self._target)
                self._upstream_ports.append(server.getsockname()[1])
                self._sockets += [client, server]
                for source, sink in ((client, server), (server, client)):
                    threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> AbstractContextManager[None]:
        """While inside: cut off, between the clients and the forwarder and between the
        forwarder and PostgreSQL."""
        return packets_dropped([self.port, *self._upstream_ports])

    def close(self) -> None:
        self._listener.close()
        for end in self._sockets:
            with suppress(OSError):
                end.close()


@pytest.fixture
def partition(monkeypatch: pytest.MonkeyPatch) -> Iterator[Partition]:
    monkeypatch.setattr(engine_module, "CONNECTION_BOUNDS", SMALL_BOUNDS)
    monkeypatch.setattr(engine_module, "SERVER_SETTINGS", SMALL_SERVER_BOUNDS)
    url = make_url(_need(PG_URL, "GOVTRUST_TEST_DATABASE_URL"))
    iptables()  # skipped (failed in CI) without it
    cut_off = Partition(url.host or "127.0.0.1", url.port or 5432)
    try:
        yield cut_off
    finally:
        cut_off.close()


def _through(partition: Partition) -> str:
    url = make_url(_need(PG_URL, "GOVTRUST_TEST_DATABASE_URL")).set(port=partition.port)
    return url.render_as_string(hide_password=False)


def _outcome_within(seconds: float, call: Callable[[], Any]) -> BaseException | None:
    """What ``call`` raised (None: it returned). Fails the test if it has not ended within
    ``seconds``: the wait this module is about."""
    thread, outcome = in_thread(call)
    thread.join(seconds)
    assert outcome, f"still waiting after {seconds} s across the partition"
    return outcome[0]


def test_a_pooled_connection_across_a_partition_fails_within_the_bound(
    partition: Partition,
) -> None:
    engine = make_engine(_through(partition))
    try:
        ping(engine)  # a connection in the pool, idle, as between two requests
        with partition.cut():
            raised = _outcome_within(WITHIN_SECONDS, lambda: ping(engine))
            assert isinstance(raised, OperationalError), raised
        ping(engine)  # healed: the pool connects again
    finally:
        engine.dispose()


def test_a_statement_whose_answer_is_cut_off_fails_within_the_bound(
    partition: Partition,
) -> None:
    """The statement reached the server, which is working on it, when the network goes:
    nothing is left unacknowledged, so the keepalives find the server gone."""
    engine = make_engine(_through(partition))
    try:
        with engine.connect() as connection:
            thread, outcome = in_thread(lambda: connection.execute(text("SELECT pg_sleep(10)")))
            time.sleep(0.5)  # sent, acknowledged, being worked on
            with partition.cut():
                thread.join(WITHIN_SECONDS)
            assert outcome, f"still waiting after {WITHIN_SECONDS} s across the partition"
            assert isinstance(outcome[0], OperationalError), outcome[0]
    finally:
        engine.dispose()


def test_a_new_connection_into_a_partition_fails_within_the_bound(partition: Partition) -> None:
    engine = make_engine(_through(partition))
    try:
        with partition.cut():
            raised = _outcome_within(WITHIN_SECONDS, lambda: ping(engine))
            assert isinstance(raised, OperationalError), raised
        ping(engine)
    finally:
        engine.dispose()


def test_a_transaction_cut_off_from_its_client_lets_go_of_its_locks(
    partition: Partition, pg_schema: tuple[str, str]
) -> None:
    """The client is cut off in the middle of a transaction that holds a row lock, and sends
    nothing more (a worker on a host gone from the network). The server's end must notice
    and end the transaction, or every later write to that row waits for it."""
    url, schema = pg_schema
    direct = make_engine(url, schema=schema)
    engine = make_engine(_through(partition), schema=schema)
    try:
        with direct.begin() as connection:
            connection.execute(text("CREATE TABLE counters (id int PRIMARY KEY, n int)"))
            connection.execute(text("INSERT INTO counters VALUES (1, 0)"))
        cut_off = engine.connect()
        cut_off.begin()
        cut_off.execute(text("UPDATE counters SET n = n + 1 WHERE id = 1"))
        backend = cut_off.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with partition.cut():
            deadline = time.monotonic() + WITHIN_SECONDS
            while _alive(direct, backend) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not _alive(direct, backend), "the cut-off transaction is still open"
            with direct.begin() as connection:
                connection.execute(text("SET LOCAL lock_timeout = '1s'"))
                connection.execute(text("UPDATE counters SET n = n + 10 WHERE id = 1"))
        with direct.connect() as connection:
            # the cut-off transaction was rolled back, the later write is there
            assert connection.execute(text("SELECT n FROM counters")).scalar_one() == 10
        cut_off.invalidate()
    finally:
        engine.dispose()
        direct.dispose()


def _alive(engine: Engine, backend: int) -> bool:
    """Whether the server still has that backend (a transaction of its own for each look:
    within one, ``pg_stat_activity`` is a snapshot)."""
    with engine.connect() as connection:
        alive = connection.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": backend}
        ).scalar_one()
    return bool(alive)
