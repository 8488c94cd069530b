"""Several uvicorn worker processes, each listening on its own socket of one port
(``SO_REUSEPORT``, socket(7)), so that the kernel spreads new connections across them.

Why not uvicorn's ``--workers``: it binds one socket in the parent and every worker accepts
from it. The worker whose event loop wakes first accepts every connection waiting, so a
burst of keep-alive connections (a gateway's pool, a load generator's) can land on one
worker and leave the others idle for as long as those connections live. Measured with wrk's
8 connections on two workers: all 8 on one worker in 4 runs of 20, with one core busy
instead of two (``bench/PROFILE.md``, tenth pass). With one socket per worker in one
``SO_REUSEPORT`` group, Linux picks the socket of each new connection by a hash of its
addresses and ports before any worker runs: all of 8 connections on one of two workers has
probability 2/2^8, and the workers' wake-up order plays no part.

The parent binds the port first and does not listen: it resolves port 0, fails with
"address in use" before any worker starts (also when another ``govtrust serve`` holds the
port, which ``SO_REUSEPORT`` alone would let in), and keeps the port while a worker is
replaced (a socket that does not listen takes no connections). A worker's socket listens
only once its application has started. Linux only: elsewhere ``SO_REUSEPORT`` does not
balance, and :func:`kernel_balances` sends ``core.cli.serve`` to uvicorn's shared socket.

What it keeps of uvicorn's supervisor: a worker that dies is replaced; a worker that fails
before it serves (uvicorn's exit code 3, a broken application or configuration) stops the
service with that code, since a replacement would fail the same way; SIGHUP replaces the
workers one by one, each new one serving before its predecessor stops; SIGINT, SIGTERM or
SIGQUIT stops every worker (each drains its connections: uvicorn's shutdown), then the
parent. Beyond it: a worker stops when its parent is killed outright (``PR_SET_PDEATHSIG``),
so that no orphan holds the port. Not kept: uvicorn's health-check pings of each worker.

The trades: Linux lets another process of the same user join the port's group, and take a
share of its connections: run the service under a user of its own. A connection the kernel
has queued for a worker that stops (or dies) before accepting it is reset, where one shared
socket would have left it to the others; ``sysctl net.ipv4.tcp_migrate_req=1`` (Linux 5.14)
hands such connections to another worker instead.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn

STARTUP_FAILURE = 3  # uvicorn.config.STARTUP_FAILURE: the worker never served
GRACE_SECONDS = 30.0  # how long a stopping worker may drain before it is killed
POLL_SECONDS = 0.5
READY_SECONDS = 60.0  # how long a new worker may take to serve, on SIGHUP
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)
IGNORED_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)  # by default they would end the parent alone

logger = logging.getLogger("govtrust.serve")


def kernel_balances() -> bool:
    """Whether this system spreads connections over the sockets of one ``SO_REUSEPORT``
    group (Linux 3.9 and later)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn decides


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` in the port's ``SO_REUSEPORT`` group, not yet
    listening. A worker's server listens on it (asyncio's and uvloop's ``create_server``
    do) once the application has started, so a starting worker is sent no connections;
    the parent's socket never listens and only holds the port."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


@dataclass(frozen=True)
class HeldPort:
    """The parent's hold on the port: :func:`hold_port`."""

    port: int
    sockets: tuple[socket.socket, ...]

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def hold_port(host: str, port: int) -> HeldPort:
    """The parent's sockets, which hold the port for the workers. Refused (``OSError``,
    EADDRINUSE) if anything listens on the port already, or if another ``govtrust serve``
    holds it (an abstract Unix socket named for the port, unix(7), held while it runs):
    ``SO_REUSEPORT`` alone would let a second one join the group and take a share of the
    connections. The probe binds as uvicorn does (``SO_REUSEADDR``, so that connections of
    an earlier run in TIME_WAIT do not count); with port 0 it picks the port."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind(f"\0govtrust-serve:{port}")
        holder = reuse_port_socket(host, port)
    except OSError:
        lock.close()
        raise
    return HeldPort(port, (lock, holder))


def _die_with_parent(parent: int) -> None:
    """Linux ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: a worker whose parent is killed outright
    (SIGKILL, the OOM killer) stops too, instead of serving on as an orphan that holds the
    port."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return
    if os.getppid() != parent:  # it died before the prctl
        sys.exit(0)


class _Server(uvicorn.Server):
    """uvicorn's server, which tells the parent when it serves (``ready``)."""

    def __init__(self, config: uvicorn.Config, ready: Any) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._ready.set()


def serve_one(config: uvicorn.Config, port: int, ready: Any, parent: int) -> None:
    """A worker process: its own listening socket, then uvicorn's server on it; ``ready``
    (a ``multiprocessing`` event) set once it serves. Exits with :data:`STARTUP_FAILURE`
    if it never served, whatever stopped it (a missing module, an application factory
    that raised, a socket it could not bind)."""
    _die_with_parent(parent)
    config.configure_logging()
    server = _Server(config, ready)
    try:
        server.run(sockets=[reuse_port_socket(config.host, port)])
    except (SystemExit, KeyboardInterrupt):
        pass  # uvicorn's own exits; what the worker did is in server.started
    except Exception:
        logger.exception("worker failed")
    if not server.started:
        sys.exit(STARTUP_FAILURE)


@dataclass(frozen=True)
class Worker:
    process: Any  # multiprocessing's SpawnProcess
    ready: Any  # its multiprocessing event: set once it serves


class ReusePortWorkers:
    """``count`` worker processes (:func:`serve_one`) on ``config.host:config.port``."""

    def __init__(self, config: uvicorn.Config, count: int) -> None:
        if count < 1:
            raise ValueError("at least one worker")
        self.config = config
        self.count = count
        # set by the signal handler, read by the loop; plain attributes, since a handler
        # that took a lock the interrupted main thread holds would deadlock (gh-126434)
        self._stop_signal: int | None = None
        self._restart_requested = False
        self._ignored_signal: int | None = None
        self._context = multiprocessing.get_context("spawn")  # no state forked from the parent

    @property
    def stopping(self) -> bool:
        return self._stop_signal is not None

    def _start(self, port: int) -> Worker:
        ready = self._context.Event()
        process = self._context.Process(
            target=serve_one, args=(self.config, port, ready, os.getpid()), name="govtrust-worker"
        )
        process.start()
        return Worker(process, ready)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._restart_requested = True
        elif signum in IGNORED_SIGNALS:
            self._ignored_signal = signum
        elif self._stop_signal is None:
            self._stop_signal = signum

    def run(self) -> int:
        """Serve until SIGINT, SIGTERM or SIGQUIT (0), or until a worker fails to start
        (:data:`STARTUP_FAILURE`); SIGHUP replaces the workers one by one; SIGUSR1 and
        SIGUSR2, whose default would end the parent alone, are ignored. ``OSError`` before
        any worker starts if the port is taken (:func:`hold_port`). Call from the main
        thread."""
        held = hold_port(self.config.host, self.config.port)
        handled = (*STOP_SIGNALS, signal.SIGHUP, *IGNORED_SIGNALS)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        workers: list[Worker] = []
        status = 0
        try:
            workers.extend(self._start(held.port) for _ in range(self.count))
            logger.info(
                "serving on port %d with %d workers, one socket each (SO_REUSEPORT)",
                held.port,
                self.count,
            )
            while not self.stopping:
                time.sleep(POLL_SECONDS)
                self._note_ignored()
                if self._restart_requested and not self.stopping:
                    self._restart_requested = False
                    self._replace_all(workers, held.port)
                status = self._replace_dead(workers, held.port)
                if status:
                    break
        finally:
            if self._stop_signal is not None:
                logger.info("received %s: stopping", signal.Signals(self._stop_signal).name)
            self._stop(workers)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            held.close()
        return status

    def _note_ignored(self) -> None:
        if self._ignored_signal is not None:
            name = signal.Signals(self._ignored_signal).name
            self._ignored_signal = None
            logger.info("received %s: ignored (SIGTERM stops, SIGHUP restarts the workers)", name)

    def _replace_dead(self, workers: list[Worker], port: int) -> int:
        for index, worker in enumerate(workers):
            process = worker.process
            if self.stopping or process.is_alive():
                continue  # stopping: whatever ended it (a terminal's Ctrl+C) ends them all
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error("worker %d failed to start: stopping the service", process.pid)
                return STARTUP_FAILURE
            logger.warning(
                "worker %d ended (exit code %s): replaced", process.pid, process.exitcode
            )
            workers[index] = self._start(port)
        return 0

    def _replace_all(self, workers: list[Worker], port: int) -> None:
        """SIGHUP: each worker in turn replaced by a new one, which serves before the old one
        stops (new code, settings and keys, with the port answering throughout). A new worker
        that is not serving within :data:`READY_SECONDS` ends the restart; the old ones stay."""
        logger.info("received SIGHUP: replacing the workers one by one")
        for index, old in enumerate(workers):
            if self.stopping:
                return
            new = self._start(port)
            if not self._serves(new):
                self._stop([new])
                if not self.stopping:
                    logger.error(
                        "new worker %d did not serve in %.0f s: restart abandoned",
                        new.process.pid,
                        READY_SECONDS,
                    )
                return
            self._stop([old])
            workers[index] = new

    def _serves(self, worker: Worker) -> bool:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline and not self.stopping:
            if worker.ready.wait(POLL_SECONDS / 5):
                return True
            if not worker.process.is_alive():
                return False
        return False

    def _stop(self, workers: list[Worker]) -> None:
        for worker in workers:
            if worker.process.is_alive():
                worker.process.terminate()  # SIGTERM: uvicorn's graceful shutdown
        for worker in workers:
            process = worker.process
            process.join(GRACE_SECONDS)
            if process.is_alive():
                logger.error("worker %d did not stop in %.0f s: killed", process.pid, GRACE_SECONDS)
                process.kill()
                process.join()
