"""``govtrust serve --workers N`` on Linux: one listening socket per worker in one
``SO_REUSEPORT`` group (socket(7)), so that the kernel, not the workers' wake-up order,
spreads connections (``core.reuse_port_workers``)."""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from click.testing import CliRunner

from core import cli
from core.reuse_port_workers import (
    STARTUP_FAILURE,
    ReusePortWorkers,
    Worker,
    hold_port,
    kernel_balances,
    reuse_port_socket,
)
from tests.conftest import REDIS_URL, _need
from tests.security.faults import GOVTRUST, free_port, govtrust_env, serve_workers

pytestmark = pytest.mark.skipif(not kernel_balances(), reason="Linux SO_REUSEPORT")


def _accept_all(sock: socket.socket) -> int:
    sock.setblocking(False)
    accepted = 0
    while True:
        try:
            connection, _ = sock.accept()
        except BlockingIOError:
            return accepted
        connection.close()
        accepted += 1


def test_the_sockets_of_one_port_share_its_connections_and_the_holder_takes_none() -> None:
    holder = reuse_port_socket("127.0.0.1", 0)
    port = holder.getsockname()[1]
    listeners = [reuse_port_socket("127.0.0.1", port) for _ in range(2)]
    try:
        for listener in listeners:
            listener.listen(128)
        with socket.socket() as intruder, pytest.raises(OSError):  # no SO_REUSEPORT: refused
            intruder.bind(("127.0.0.1", port))
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        shares = [_accept_all(listener) for listener in listeners]
        assert sum(shares) == 64 and min(shares) > 0  # all on one: probability 2**-63
        for client in clients:
            client.close()
        for listener in listeners:
            listener.close()
        with pytest.raises(ConnectionRefusedError):  # the holder does not listen
            socket.create_connection(("127.0.0.1", port), timeout=5)
    finally:
        holder.close()
        for listener in listeners:
            listener.close()


def _listener(reuse_port: bool) -> socket.socket:
    if reuse_port:  # another govtrust serve's worker
        sock = reuse_port_socket("127.0.0.1", 0)
    else:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_port_that_something_listens_on_is_refused_before_any_worker(
    reuse_port: bool,
) -> None:
    with _listener(reuse_port) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as refused:
            hold_port("127.0.0.1", port)
        assert refused.value.errno == errno.EADDRINUSE
        config = uvicorn.Config("core.app:app", host="127.0.0.1", port=port)
        with pytest.raises(OSError):
            ReusePortWorkers(config, 2).run()
        assert multiprocessing.active_children() == []


def test_a_second_serve_on_a_held_port_is_refused_while_no_worker_listens() -> None:
    """Another ``govtrust serve`` whose workers are starting (or all replaced) listens
    nowhere yet; its hold on the port still refuses a second one."""
    first = hold_port("127.0.0.1", 0)
    try:
        with pytest.raises(OSError) as refused:
            hold_port("127.0.0.1", first.port)
        assert refused.value.errno == errno.EADDRINUSE
    finally:
        first.close()
    hold_port("127.0.0.1", first.port).close()  # free again once the first has gone


def test_connections_of_an_earlier_run_in_time_wait_do_not_hold_the_port() -> None:
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server's side closes first: its end waits in TIME_WAIT
        client.close()
    assert "06" in _tcp_sockets(port).values()  # TIME_WAIT (proc(5))
    hold_port("127.0.0.1", port).close()


def broken_factory() -> None:
    raise RuntimeError("the application cannot be built")


@pytest.mark.parametrize(
    "app", ["tests.core.no_such_module:app", "tests.core.test_reuse_port_workers:broken_factory"]
)
def test_a_worker_that_cannot_start_stops_the_service(app: str) -> None:
    """A replacement would fail the same way: the parent stops with uvicorn's code 3 instead
    of replacing it forever, whether the application is missing or its factory raises."""
    config = uvicorn.Config(app, factory=app.endswith("factory"), host="127.0.0.1", port=0)
    started = time.monotonic()
    assert ReusePortWorkers(config, 2).run() == STARTUP_FAILURE
    assert time.monotonic() - started < 60
    assert multiprocessing.active_children() == []


def test_sigterm_while_the_workers_start_stops_everything() -> None:
    config = uvicorn.Config("core.app:app_from_environment", factory=True, port=0)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        assert ReusePortWorkers(config, 2).run() == 0
    finally:
        timer.cancel()
    assert multiprocessing.active_children() == []


class _FakeProcess:
    """What :class:`ReusePortWorkers` uses of a worker process; what happens to it goes to
    ``events``."""

    def __init__(self, pid: int, alive: bool, events: list[tuple[str, int]]) -> None:
        self.pid, self.alive, self.events = pid, alive, events
        self.exitcode = None if alive else STARTUP_FAILURE

    def is_alive(self) -> bool:
        return self.alive

    def terminate(self) -> None:
        self.events.append(("stop", self.pid))
        self.alive = False

    def join(self, timeout: float | None = None) -> None:
        pass

    def kill(self) -> None:
        self.alive = False


class _FakeReady:
    def __init__(self, pid: int, serves: bool, events: list[tuple[str, int]]) -> None:
        self.pid, self.serves, self.events = pid, serves, events

    def wait(self, timeout: float | None = None) -> bool:
        self.events.append(("serves?", self.pid))
        return self.serves


def _fake(pid: int, serves: bool, events: list[tuple[str, int]]) -> Worker:
    return Worker(_FakeProcess(pid, serves, events), _FakeReady(pid, serves, events))


@pytest.mark.parametrize("serves", [True, False])
def test_sighup_replaces_a_worker_only_once_its_successor_serves(serves: bool) -> None:
    """Each old worker stops only after the new one serves; a new one that dies before it
    serves (a broken deployment) ends the restart and the old workers go on serving."""
    events: list[tuple[str, int]] = []
    supervisor = ReusePortWorkers(uvicorn.Config("core.app:app", port=0), 2)
    successors = iter([11, 12])

    def start(port: int) -> Worker:
        pid = next(successors)
        events.append(("start", pid))
        return _fake(pid, serves, events)

    supervisor._start = start  # type: ignore[method-assign]
    old = [_fake(1, True, events), _fake(2, True, events)]
    workers = list(old)
    supervisor._replace_all(workers, 8000)
    if serves:
        assert [w.process.pid for w in workers] == [11, 12]
        assert events == [
            ("start", 11), ("serves?", 11), ("stop", 1),
            ("start", 12), ("serves?", 12), ("stop", 2),
        ]  # fmt: skip
    else:
        assert workers == old
        assert events == [("start", 11), ("serves?", 11)]  # the restart ends; 1 and 2 serve on


@pytest.mark.parametrize("balances", [True, False])
def test_serve_picks_the_sockets_by_platform(
    balances: bool, cli_services: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several workers: one socket each where the kernel balances (Linux), uvicorn's shared
    socket elsewhere; one worker: uvicorn's own."""
    monkeypatch.setenv("GOVTRUST_REDIS_URL", "redis://127.0.0.1:1/0")  # not reached
    monkeypatch.setattr("core.reuse_port_workers.kernel_balances", lambda: balances)
    calls: list[tuple[str, int]] = []

    def uvicorn_run(app: str, *, workers: int, **_options: object) -> None:
        calls.append(("uvicorn", workers))

    def workers_run(self: ReusePortWorkers) -> int:
        calls.append(("reuse_port", self.count))
        return 0

    monkeypatch.setattr("uvicorn.run", uvicorn_run)
    monkeypatch.setattr(ReusePortWorkers, "run", workers_run)
    runner = CliRunner()
    for workers in (1, 3):
        result = runner.invoke(cli.main, ["serve", "--no-migrate", "--workers", str(workers)])
        assert result.exit_code == 0, result.output
    assert calls == [("uvicorn", 1), ("reuse_port" if balances else "uvicorn", 3)]


def test_serve_on_a_port_in_use_says_so(
    cli_services: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVTRUST_REDIS_URL", "redis://127.0.0.1:1/0")  # not reached
    with _listener(reuse_port=True) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli.main, ["serve", "--no-migrate", "--workers", "2", "--port", str(port)]
        )
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "Address already in use" in result.output


# --------------------------------------------------------------- govtrust serve --workers 2


def _tcp_sockets(port: int) -> dict[int, str]:
    """Socket inode -> TCP state (``0A`` listening, ``01`` established) of the sockets
    whose local port is ``port`` (proc(5), /proc/net/tcp)."""
    found: dict[int, str] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            found[int(fields[9])] = fields[3]
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _owners(port: int, pids: list[int], state: str) -> dict[int, int]:
    """How many of the port's sockets in ``state`` each process holds."""
    sockets = {inode for inode, s in _tcp_sockets(port).items() if s == state}
    return {pid: len(_socket_inodes(pid) & sockets) for pid in pids}


def _wait(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``govtrust serve --demo --workers 2`` (SQLite, Redis), until the test ends."""
    redis_url = _need(REDIS_URL, "GOVTRUST_TEST_REDIS_URL")
    port = free_port()
    env = govtrust_env(
        {"GOVTRUST_REDIS_URL": redis_url, "GOVTRUST_CACHE_PREFIX": f"t{uuid.uuid4().hex[:8]}:"}
    )
    command = [*GOVTRUST, "serve", "--demo", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=(tmp_path / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(lambda: _healthy(f"http://127.0.0.1:{port}"), "serve did not start")
        yield process, port
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()  # its workers follow it (PR_SET_PDEATHSIG)
                process.wait()


@pytest.mark.slow
def test_two_workers_each_listen_share_a_burst_are_replaced_restart_and_stop(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = served
    base = f"http://127.0.0.1:{port}"
    _wait(lambda: len(serve_workers(process.pid)) == 2, "two workers")
    workers = serve_workers(process.pid)
    _wait(lambda: set(_owners(port, workers, "0A").values()) == {1}, "a socket per worker")
    assert _owners(port, [process.pid], "0A") == {process.pid: 0}  # the parent only holds

    # a burst of keep-alive connections, as a gateway opens its pool: both workers get some
    burst = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
    try:
        for connection in burst:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        for connection in burst:
            assert connection.recv(4096).startswith(b"HTTP/1.1 200")
        shares = _owners(port, workers, "01")
        assert sum(shares.values()) == 16 and min(shares.values()) > 0, shares  # p = 2**-15
    finally:
        for connection in burst:
            connection.close()

    # a worker killed: replaced by one with its own socket, and the port keeps answering
    os.kill(workers[0], signal.SIGKILL)
    _wait(
        lambda: (
            workers[0] not in serve_workers(process.pid) and len(serve_workers(process.pid)) == 2
        ),
        "a replacement worker",
    )
    replaced = serve_workers(process.pid)
    _wait(lambda: set(_owners(port, replaced, "0A").values()) == {1}, "the replacement listens")
    assert all(_healthy(base) for _ in range(10))

    # SIGHUP: every worker replaced by a new one with its own socket, one at a time, so that
    # at least two sockets listen on the port throughout
    process.send_signal(signal.SIGHUP)
    listening: list[int] = []
    deadline = time.monotonic() + 120
    while set(replaced) & set(serve_workers(process.pid)) or len(serve_workers(process.pid)) != 2:
        assert time.monotonic() < deadline, "new workers after SIGHUP"
        listening.append(list(_tcp_sockets(port).values()).count("0A"))
        time.sleep(0.02)
    assert listening and min(listening) >= 2, listening
    renewed = serve_workers(process.pid)
    _wait(lambda: set(_owners(port, renewed, "0A").values()) == {1}, "the new workers listen")
    assert all(_healthy(base) for _ in range(10))

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert not [pid for pid in renewed if Path(f"/proc/{pid}").exists()]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/healthz", timeout=2)


@pytest.mark.slow
def test_workers_stop_when_their_parent_is_killed(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    """SIGKILL leaves the parent no time to stop its workers; they stop on their own rather
    than serve on as orphans that keep the port."""
    process, port = served
    _wait(lambda: len(serve_workers(process.pid)) == 2, "two workers")
    workers = serve_workers(process.pid)
    process.kill()
    process.wait()
    _wait(lambda: not [p for p in workers if Path(f"/proc/{p}").exists()], "workers stopped")
    assert "0A" not in _tcp_sockets(port).values()
