"""Helpers for the fault tests: a private ``redis-server`` that can be killed and started
again on the same port, a private PostgreSQL cluster that can be stopped and started again,
free loopback ports, and ``govtrust`` subprocesses and their worker processes.

Nothing here touches the shared PostgreSQL or Redis servers: every Redis and every
PostgreSQL a fault test stops is its own, started here on a free port.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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
from idp.identities.models import Organisation, Person
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


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (proc(5), ``/proc/PID/stat``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def serve_workers(pid: int) -> list[int]:
    """The worker processes under ``govtrust serve`` (pid): its children that are not
    multiprocessing's resource tracker."""
    workers = []
    for child in children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue  # it ended meanwhile
        if b"resource_tracker" not in command:
            workers.append(child)
    return workers


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


REQUIRE_PLATFORM = (
    os.environ.get("CI") == "true" or os.environ.get("GOVTRUST_TEST_REQUIRE_REAL_BACKENDS") == "1"
)


def unavailable(reason: str) -> None:
    """The platform cannot run this fault: skip locally, fail in CI (``CI=true`` or
    ``GOVTRUST_TEST_REQUIRE_REAL_BACKENDS=1``), where a skipped fault would hide a gap."""
    if REQUIRE_PLATFORM:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def postgres_bin_dir() -> Path | None:
    """Where ``initdb``, ``pg_ctl`` and ``postgres`` are: ``GOVTRUST_TEST_PG_BIN``, the
    newest Debian ``/usr/lib/postgresql/N/bin``, or the ``PATH``."""
    named = os.environ.get("GOVTRUST_TEST_PG_BIN")
    candidates = [Path(named)] if named else []
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(
        (Path(d) for d in debian),
        key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
    )[::-1]
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).parent)
    for directory in candidates:
        if all((directory / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


class PrivatePostgres:
    """A PostgreSQL cluster of this test only: ``initdb`` into a temporary directory, trust
    authentication, listening on 127.0.0.1 on a free port (and a Unix socket in its own
    directory). PostgreSQL refuses to run as root: as root the cluster belongs to the
    ``postgres`` user and its tools are run through ``runuser``."""

    USER = "govtrust"
    DATABASE = "govtrust"

    def __init__(self) -> None:
        self.port = free_port()
        self.bin = postgres_bin_dir()
        if self.bin is None:
            unavailable("no PostgreSQL server binaries (initdb, pg_ctl, postgres) found")
        self.root = Path(tempfile.mkdtemp(prefix="govtrust-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            try:
                owner: pwd.struct_passwd | None = pwd.getpwnam("postgres")
            except KeyError:
                owner = None
            if runuser is None or owner is None:
                self.remove()
                unavailable("running as root with no `postgres` user (or no runuser) for initdb")
            assert owner is not None and runuser is not None
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_user = [runuser, "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.USER}@127.0.0.1:{self.port}/{self.DATABASE}"

    def _tool(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        assert self.bin is not None
        return subprocess.run(
            [*self.as_user, str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
        )

    def init(self) -> None:
        done = self._tool(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip().splitlines()[-3:]
            self.remove()
            unavailable(f"initdb failed: {' / '.join(output)}")
        self.start()
        created = self._tool(
            "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER, self.DATABASE
        )
        if created.returncode != 0:
            raise RuntimeError(f"createdb failed: {created.stdout}{created.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        done = self._tool(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"
        )
        if done.returncode != 0:
            raise RuntimeError(f"the private PostgreSQL did not start: {self.log_tail()}")

    def stop(self, mode: str = "immediate") -> None:
        """``immediate``: every backend is killed at once, no checkpoint (a crash, then
        recovery at the next start); ``fast``: open transactions are rolled back."""
        done = self._tool("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed: {done.stdout}{done.stderr}")

    def restart(self, mode: str = "fast") -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        done = self._tool(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-m",
            mode,
            "-w",
            "restart",
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl restart failed: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-10:])
        except OSError:
            return "(no server log)"

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._tool("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.init()
        yield server
    finally:
        server.remove()


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


ADMIN_ID_NUMBER = "350102198503150022"
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


def private_env(
    data_dir: Path, master: str, issuer: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a private installation's ``govtrust`` subprocesses."""
    return govtrust_env(
        {
            "GOVTRUST_ENVIRONMENT": "test",
            "GOVTRUST_SECRET_KEY": TEST_SECRET,
            "GOVTRUST_DATA_DIR": str(data_dir),
            "GOVTRUST_ISSUER": issuer,
            "GOVTRUST_MASTER_KEY": master,
            "GOVTRUST_LOG_LEVEL": "WARNING",
            **(extra or {}),
        }
    )


@dataclass(frozen=True)
class Authority:
    """A licence-issuing authority of a test installation: its administrator (also its legal
    representative), the organisation, and its official seal."""

    admin: Person
    organisation: Organisation
    seal_id: str


def set_up_authority(
    services: Services, *, admin_id_number: str = ADMIN_ID_NUMBER, uscc: str = AUTHORITY
) -> Authority:
    """Migrate, make the keys, the authority with its administrator and official seal, and
    the demo licence types sealed with it."""
    upgrade(services.engine)
    services.keys.init()
    clock = services.keys.clock
    ids = IdentityService(services.sessions, services.identifiers, services.audit, clock)
    admin = ids.register_person(admin_id_number, "王芳", actor="t")
    authority = ids.register_organisation(uscc, AUTHORITY_NAME, admin.id, actor="t")
    seals = SealRegistry(services.sessions, services.keys, services.audit, clock)
    seal = seals.create(organisation_id=authority.id, kind="official", by=admin.id)
    licences = LicenceService(services.sessions, services.identifiers, services.audit, clock)
    for licence_type in demo_licence_types(seal_id=seal.id):
        licences.register_type(licence_type, "t")
    return Authority(admin, authority, seal.id)


def install(data_dir: Path, *, issuer: str = "https://govtrust.test") -> Installation:
    """A private installation on a SQLite file: :func:`set_up_authority`."""
    master = new_master_key()
    env = private_env(data_dir, master, issuer)
    services = build_services(make_settings(data_dir, master_key=master, issuer=issuer))
    try:
        made = set_up_authority(services)
    finally:
        services.close()
    return Installation(
        data_dir, env, made.admin.subject, made.admin.id, made.organisation.id, made.seal_id
    )


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
