"""Helpers for the fault tests: a private ``redis-server`` that can be killed and started
again on the same port, free loopback ports, and ``govtrust`` subprocesses.

Nothing here touches the shared PostgreSQL or Redis servers: every Redis a fault test stops
is its own, started here on a free port with no persistence.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import redis

from certs.demo_types import demo_licence_types
from certs.service import LicenceService
from core.audit import merkle
from core.audit.checkpoint import open_checkpoint
from core.db.migrate import upgrade
from core.identifiers.resident_id import check_digit
from core.services import Services, build_services
from core.settings import Settings
from idp.identities.service import IdentityService
from keys.master import new_master_key
from seal.registry import SealRegistry
from tests.conftest import TEST_SECRET, make_settings

PYTHON = sys.executable
GOVTRUST = [PYTHON, "-m", "core"]  # the ``govtrust`` console script (core/__main__.py)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A ``redis-server`` of this test only, on a fixed loopback port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise RuntimeError("the private redis-server did not start") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: the server disappears without closing anything cleanly."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None


@contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def govtrust_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a ``govtrust`` subprocess: this one's, without any GOVTRUST_*
    setting that is not given in ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GOVTRUST_")}
    env.update(extra)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_govtrust(
    args: list[str], env: Mapping[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GOVTRUST, *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


AUTHORITY = "11350100MB00000012"
AUTHORITY_NAME = "福州市市场监督管理局"
COMPANY = "91350100M000100Y43"


@dataclass(frozen=True)
class Installation:
    """A private govtrust installation on a SQLite file under ``data_dir``: its environment
    for subprocesses, and the subjects and ids the tests act with."""

    data_dir: Path
    env: dict[str, str]
    admin_subject: str
    admin_id: str
    organisation_id: str
    seal_id: str

    def services(self) -> Services:
        """Services of this installation, in this process (close them after use)."""
        return build_services(self.settings())

    def settings(self) -> Settings:
        return make_settings(
            self.data_dir,
            master_key=self.env["GOVTRUST_MASTER_KEY"],
            issuer=self.env["GOVTRUST_ISSUER"],
        )


def install(data_dir: Path, *, issuer: str = "https://govtrust.test") -> Installation:
    """Migrate, make the keys, a licence administrator (who is also the legal
    representative of the issuing authority, with the authority's official seal) and the
    demo licence types."""
    master = new_master_key()
    env = govtrust_env(
        {
            "GOVTRUST_ENVIRONMENT": "test",
            "GOVTRUST_SECRET_KEY": TEST_SECRET,
            "GOVTRUST_DATA_DIR": str(data_dir),
            "GOVTRUST_ISSUER": issuer,
            "GOVTRUST_MASTER_KEY": master,
            "GOVTRUST_LOG_LEVEL": "WARNING",
        }
    )
    services = build_services(make_settings(data_dir, master_key=master, issuer=issuer))
    try:
        upgrade(services.engine)
        services.keys.init()
        clock = services.keys.clock
        ids = IdentityService(services.sessions, services.identifiers, services.audit, clock)
        admin = ids.register_person("350102198503150022", "王芳", actor="t")
        authority = ids.register_organisation(AUTHORITY, AUTHORITY_NAME, admin.id, actor="t")
        seals = SealRegistry(services.sessions, services.keys, services.audit, clock)
        seal = seals.create(organisation_id=authority.id, kind="official", by=admin.id)
        licences = LicenceService(services.sessions, services.identifiers, services.audit, clock)
        for licence_type in demo_licence_types(seal_id=seal.id):
            licences.register_type(licence_type, "t")
    finally:
        services.close()
    return Installation(data_dir, env, admin.subject, admin.id, authority.id, seal.id)


def resident_id(number: int) -> str:
    """A distinct, well-formed resident ID number (GB 11643 check digit) per ``number``."""
    born = date(1960, 1, 1) + timedelta(days=number % 15000)
    first17 = f"350102{born:%Y%m%d}{number % 1000:03d}"
    return first17 + check_digit(first17)


def audit_ok(installation: Installation) -> str:
    """``govtrust audit verify`` on the installation; its output (fails the test if not
    intact)."""
    done = run_govtrust(["audit", "verify"], installation.env, installation.data_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit trail intact" in done.stdout
    return done.stdout


def signed_checkpoint(installation: Installation) -> str:
    """``govtrust audit checkpoint``: a checkpoint of the log as it is now."""
    done = run_govtrust(["audit", "checkpoint"], installation.env, installation.data_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def assert_consistent(services: Services, before: str, after: str) -> tuple[int, int]:
    """The log of ``after`` extends the log of ``before`` (RFC 9162 consistency proof,
    verified against the two signed roots); (size before, size after)."""
    trail = services.audit
    first = open_checkpoint(before, trail.signer.name, trail.signer.verifier_keys())
    second = open_checkpoint(after, trail.signer.name, trail.signer.verifier_keys())
    assert first.tree_size <= second.tree_size
    with services.sessions() as session:
        proof = trail.consistency_proof(session, first.tree_size, second.tree_size)
    assert merkle.verify_consistency(
        first.tree_size,
        second.tree_size,
        first.root_hash,
        second.root_hash,
        proof.path,
        trail.hasher,
    )
    return first.tree_size, second.tree_size
