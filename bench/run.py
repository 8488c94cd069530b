"""One command for the identity-provider benchmarks (and then the stamping ones).

    .venv/bin/python bench/run.py            # ~13 minutes on 2 cores; writes bench/RESULTS.md

What it does:

1. Installs the peer exactly as locked (``npm ci --prefix bench``: ``oidc-provider`` v8 and
   ``argon2``) when ``bench/node_modules`` is missing or older than the lock file; checks
   that PostgreSQL (127.0.0.1:5432, user postgres) and Redis (127.0.0.1:6379) answer.
2. Starts every system under test on loopback, each in its own temporary directory:
   govtrust ``serve --demo`` on the embedded default (SQLite + in-process cache) with one
   worker; govtrust on PostgreSQL + Redis with one worker and with two (fresh databases
   ``bench_govtrust_pg1``/``bench_govtrust_pg2``, Redis databases 11 and 12, emptied first);
   for the client-credentials scenario only, a third two-worker instance with
   ``GOVTRUST_ACCESS_TOKEN_ROWS_FLUSHED=true`` (what waiting for the disk costs; database
   ``bench_govtrust_pg2f``, Redis 10); for the client-credentials and introspection
   scenarios, a two-worker instance with ``GOVTRUST_CLIENT_CREDENTIALS_TOKEN_ROWS=false``
   (client-credentials tokens without a row, as the peer's; ``bench_govtrust_pg2r``,
   Redis 9); the peer ``bench/oidc_provider/server.mjs`` with the
   embedded instance's demo client ids, secrets and user; a trivial Node HTTP server (the
   load generator's ceiling) and a bare ASGI app on uvicorn (``floor_app.py``, the Python
   floor).
3. Measures the raw ES256 rate of ``cryptography`` on one core (``es256_limit.py``), before
   and after the load runs, the ceiling of each load generator the run uses (against the
   trivial server) and the Python floor.
4. For each scenario (client_credentials, introspection, refresh, login) runs a load
   generator ``--runs`` times against every system, interleaved round by round (govtrust
   embedded, govtrust PG 1 worker, govtrust PG 2 workers, peer; the order reversed every
   other round), so that a ratio is taken within one round; client_credentials and
   introspection alternate within each round, so that their ratio (issue 9: introspection
   at least twice issuance) is taken within one round too. Client_credentials,
   introspection and refresh (one request per iteration; refresh from a pool of refresh
   tokens, each spent once) are driven by wrk (``wrk_load.py``; ``--loadgen httpx`` for
   ``loadgen.py`` instead), login (a browser's pages) always by ``loadgen.py`` (asyncio +
   httpx, its own process), whose ceiling is too low for the others.
5. A short stress check at a higher concurrency (client credentials and introspection,
   with the same load generator as their main runs), right after their main runs; then
   the opt-in variants done with their scenarios stop, so that their idle connection pools
   leave PostgreSQL's connections to the systems still measured.
6. Writes the "Identity provider" section of ``bench/RESULTS.md`` and the raw numbers to
   ``bench/results/idp.json``; then runs ``bench/stamping.py`` (skip: ``--skip-stamping``).

Everything listens on 127.0.0.1 only and every run is bounded in time.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wrk_load
from budget import budget_lines
from report import (
    BENCH,
    ROOT,
    fmt,
    machine,
    machine_lines,
    median,
    table,
    write_section,
)

SCENARIOS = ("client_credentials", "introspection", "refresh", "login")
# scenarios that --loadgen applies to (one request per iteration); the others always httpx
WRK_SCENARIOS = ("client_credentials", "introspection", "refresh")
# scenarios measured side by side, round by round, and stressed after their main runs
SIDE_BY_SIDE = ("client_credentials", "introspection")
GENERATORS = {
    "wrk": "wrk {version} (`bench/wrk_load.py`: one thread `-t1`, a Lua script checks each answer)",
    "httpx": "`bench/loadgen.py` (asyncio + httpx, its own process)",
}
TITLES = {
    "client_credentials": "Client-credentials token issuance (`POST /token`)",
    "introspection": "Introspection of an access token (RFC 7662)",
    "refresh": "Refresh with rotation (each request spends the refresh token an earlier one got)",
    "login": "Complete authorization code + PKCE logins (pages, password check, token exchange)",
}
# ES256 signatures a server makes per iteration (access token, plus ID token when openid)
SIGNATURES = {"client_credentials": 1, "introspection": 0, "refresh": 2, "login": 2}
# citizens that log in (login_users.py): at least one per concurrent login or refresh chain
LOGIN_USERS = 16
PG_URL = "postgresql://postgres@127.0.0.1:5432/{db}"
REDIS_URL = "redis://127.0.0.1:6379/{n}"
PEER_RESOURCE = "urn:govtrust:bench:api"
ECHO_JS = r"""
const http = require('node:http');
http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (uvicorn's workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(stat[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, []))
    return found


@dataclass
class System:
    key: str
    label: str
    kind: str  # "govtrust", "peer" or "echo"
    base: str
    process: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path
    target: dict[str, Any] = field(default_factory=dict)
    target_path: Path | None = None

    def pids(self) -> list[int]:
        return descendants(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_until(
    check: Callable[[], bool], process: subprocess.Popen[bytes], what: str, log_path: Path
) -> None:
    deadline = time.monotonic() + 90
    while not check():
        problem = None
        if process.poll() is not None:
            problem = f"{what} exited with {process.returncode} while starting"
        elif time.monotonic() > deadline:
            problem = f"{what} did not start within 90 s"
        if problem:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise SystemExit(f"{problem}; its log ends:\n{tail}")
        time.sleep(0.3)


def healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_govtrust(
    key: str, label: str, workers: int, scratch: Path, extra_env: dict[str, str]
) -> System:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    workdir = scratch / key
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVTRUST_")}
    env.update(GOVTRUST_ISSUER=base, **extra_env)
    command = [sys.executable, "-m", "core", "serve", "--demo", "--port", str(port)]
    command += ["--workers", str(workers)]
    log_path = workdir / "serve.log"
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    system = System(key, label, "govtrust", base, process, workdir, log_path)
    demo_path = workdir / "var" / "demo.json"
    wait_until(lambda: healthy(base + "/healthz") and demo_path.exists(), process, label, log_path)
    demo = json.loads(demo_path.read_text(encoding="utf-8"))["idp"]
    clients, citizen = demo["clients"], demo["users"]["citizen"]
    system.target = {
        "name": key,
        "base": base,
        "token_path": "/token",
        "introspect_path": "/introspect",
        "authorize_path": "/authorize",
        "service": {
            "client_id": clients["service"]["client_id"],
            "client_secret": clients["service"]["client_secret"],
            "scope": clients["service"]["scope"],
        },
        "web": {
            "client_id": clients["web"]["client_id"],
            "client_secret": clients["web"]["client_secret"],
            "redirect_uri": clients["web"]["redirect_uris"][0],
            "scope": "openid profile offline_access",
        },
        "user": {"username": citizen["id_number"], "password": citizen["password"]},
        "more_usernames": login_users(workdir, env, citizen["password"]),
    }
    return system


def login_users(workdir: Path, env: dict[str, str], password: str) -> list[str]:
    """More citizens with the demo citizen's password (``login_users.py``): one account per
    concurrent login, so that the login throttle does not take the load for an attack."""
    # -P: bench/ not first on the path, where verify.py would hide govtrust's verify package
    command = [sys.executable, "-P", str(BENCH / "login_users.py"), "--count", str(LOGIN_USERS)]
    seeded = subprocess.run(
        command,
        cwd=workdir,
        env={**env, "BENCH_LOGIN_PASSWORD": password},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if seeded.returncode != 0:
        raise RuntimeError(f"login_users.py failed: {seeded.stderr[-2000:]}")
    usernames: list[str] = json.loads(seeded.stdout.strip().splitlines()[-1])
    return usernames


def start_peer(scratch: Path, like: dict[str, Any]) -> System:
    """node-oidc-provider with the same clients, user and password as ``like``."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    workdir = scratch / "peer"
    workdir.mkdir()
    env = dict(os.environ)
    env.update(
        PEER_PORT=str(port),
        PEER_ISSUER=base,
        PEER_SERVICE_ID=like["service"]["client_id"],
        PEER_SERVICE_SECRET=like["service"]["client_secret"],
        PEER_SERVICE_SCOPE=like["service"]["scope"],
        PEER_WEB_ID=like["web"]["client_id"],
        PEER_WEB_SECRET=like["web"]["client_secret"],
        PEER_WEB_REDIRECT=like["web"]["redirect_uri"],
        PEER_USERNAME=like["user"]["username"],
        PEER_PASSWORD=like["user"]["password"],
        PEER_MORE_USERNAMES=",".join(like.get("more_usernames", [])),
    )
    log_path = workdir / "peer.log"
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            ["node", str(BENCH / "oidc_provider" / "server.mjs")],
            cwd=BENCH,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    system = System("peer", "oidc-provider 8 (in-memory)", "peer", base, process, workdir, log_path)
    wait_until(
        lambda: healthy(base + "/.well-known/openid-configuration"),
        process,
        "oidc-provider",
        log_path,
    )
    system.target = {
        **like,
        "name": "peer",
        "base": base,
        "introspect_path": "/token/introspection",
        "authorize_path": "/auth",
        # JWT (ES256) access tokens come from a resource server (RFC 8707); the token to
        # introspect is an opaque one: oidc-provider does not store, so cannot introspect,
        # its JWT access tokens.
        "cc_params": {"resource": PEER_RESOURCE},
        "auth_params": {"resource": PEER_RESOURCE},
        "introspect_token_params": {},
    }
    return system


def start_echo(scratch: Path) -> System:
    port = free_port()
    workdir = scratch / "echo"
    workdir.mkdir()
    log_path = workdir / "echo.log"
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            ["node", "-e", ECHO_JS],
            env={**os.environ, "PORT": str(port)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    system = System("echo", "trivial Node HTTP server", "echo", base, process, workdir, log_path)
    wait_until(lambda: b"ready" in log_path.read_bytes(), process, "echo server", log_path)
    system.target = trivial_target("echo", base)
    return system


def trivial_target(name: str, base: str) -> dict[str, Any]:
    """The target of a server that answers any request (the "ceiling" scenario): no clients."""
    nobody = {"client_id": "", "client_secret": ""}
    return {
        "name": name,
        "base": base,
        "ceiling_url": base + "/",
        "web": dict(nobody),
        "service": dict(nobody),
    }


def start_floor(scratch: Path) -> System:
    """``bench/floor_app.py`` under uvicorn: the Python floor (one worker, no access log)."""
    port = free_port()
    workdir = scratch / "floor"
    workdir.mkdir()
    log_path = workdir / "floor.log"
    command = [sys.executable, "-m", "uvicorn", "floor_app:app", "--app-dir", str(BENCH)]
    command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    with log_path.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    system = System("floor", "bare ASGI app on uvicorn", "echo", base, process, workdir, log_path)
    wait_until(lambda: healthy(base + "/"), process, "floor server", log_path)
    system.target = trivial_target("floor", base)
    return system


# opt-in variants of govtrust on two workers, each measured in the scenarios it changes:
# GOVTRUST_ACCESS_TOKEN_ROWS_FLUSHED=true, what waiting for the disk costs the hot path's
# token rows; GOVTRUST_CLIENT_CREDENTIALS_TOKEN_ROWS=false, client-credentials tokens
# without a row (idp/oauth/rowless_tokens.py), as the peer's JWT access tokens are
FLUSHED = "gt_pg2f"
ROWLESS = "gt_pg2r"
VARIANTS = {
    FLUSHED: ("client_credentials",),
    ROWLESS: ("client_credentials", "introspection"),
}


def takes_part(key: str, scenario: str) -> bool:
    return scenario in VARIANTS.get(key, (scenario,))


def generator(scenario: str, choice: str) -> str:
    """The load generator that drives ``scenario`` when ``--loadgen`` is ``choice``."""
    return choice if scenario in WRK_SCENARIOS else "httpx"


def run_loadgen(
    system: System,
    scenario: str,
    concurrency: int,
    duration: float,
    warmup: float,
    loadgen: str = "httpx",
) -> dict[str, Any]:
    """One run with ``loadgen.py`` (``"httpx"``) or wrk (``"wrk"``), in loadgen's shape."""
    if loadgen == "wrk":
        pids = system.pids()
        return wrk_load.run(system.target, scenario, concurrency, duration, warmup, pids)
    assert system.target_path is not None
    command = [
        sys.executable,
        str(BENCH / "loadgen.py"),
        "--target",
        str(system.target_path),
        "--scenario",
        scenario,
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
    ]
    command += ["--server-pids", ",".join(str(pid) for pid in system.pids())]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=duration + warmup + 240,
            check=False,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        return {
            "target": system.key,
            "scenario": scenario,
            "rps": 0.0,
            "errors": 1,
            "error_messages": {"load generator timed out": 1},
        }
    if done.returncode != 0 or not done.stdout.strip():
        return {
            "target": system.key,
            "scenario": scenario,
            "rps": 0.0,
            "errors": 1,
            "error_messages": {f"load generator failed: {done.stderr[-300:]}": 1},
        }
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "loadgen": "httpx"}


def measure_round(
    systems: list[System], scenario: str, index: int, args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """One run of ``scenario`` against each system taking part, by key; the order reversed
    every other round (``index``)."""
    concurrency = args.login_concurrency if scenario == "login" else args.concurrency
    taking_part = [s for s in systems if takes_part(s.key, scenario)]
    order = taking_part if index % 2 == 0 else list(reversed(taking_part))
    by_system: dict[str, dict[str, Any]] = {}
    for system in order:
        result = run_loadgen(
            system,
            scenario,
            concurrency,
            args.duration,
            args.warmup,
            generator(scenario, args.loadgen),
        )
        by_system[system.key] = result
        log(
            f"{scenario} run {index + 1} {system.key}: {result.get('rps')} req/s, "
            f"p99 {result.get('p99_ms')} ms, errors {result.get('errors')}"
        )
    return by_system


def probe(system: System) -> dict[str, Any]:
    """One client-credentials request (60 s timeout): status and seconds to the answer."""
    target = system.target
    began = time.monotonic()
    try:
        response = httpx.post(
            target["base"] + target["token_path"],
            data={
                "grant_type": "client_credentials",
                "scope": target["service"]["scope"],
                **target.get("cc_params", {}),
            },
            auth=(target["service"]["client_id"], target["service"]["client_secret"]),
            timeout=60,
        )
        status: str = str(response.status_code)
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    seconds = time.monotonic() - began
    return {
        "status": status,
        "seconds": round(seconds, 2),
        "text": f"{status} after {seconds:.1f} s",
    }


def es256_limit(seconds: float) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, str(BENCH / "es256_limit.py"), "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def install_peer() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("node and npm are needed (apt-get install nodejs npm)")
    lock = BENCH / "package-lock.json"
    installed = BENCH / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    log("npm ci --prefix bench (oidc-provider, argon2)")
    subprocess.run(
        ["npm", "ci", "--prefix", str(BENCH), "--no-audit", "--no-fund"],
        check=True,
        timeout=600,
    )


def check_backends() -> None:
    ready = subprocess.run(
        ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], check=False, timeout=30
    )
    if ready.returncode != 0:
        raise SystemExit("PostgreSQL does not answer on 127.0.0.1:5432 (see .ci/run)")
    import redis

    try:
        redis.Redis.from_url(REDIS_URL.format(n=0), socket_timeout=5).ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis does not answer on 127.0.0.1:6379: {exc}") from exc


def fresh_backends(database: str, redis_db: int) -> dict[str, str]:
    for sql in (f"DROP DATABASE IF EXISTS {database}", f"CREATE DATABASE {database}"):
        subprocess.run(
            ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", sql],
            check=True,
            timeout=60,
            capture_output=True,
        )
    import redis

    redis.Redis.from_url(REDIS_URL.format(n=redis_db)).flushdb()
    return {
        "GOVTRUST_DATABASE_URL": PG_URL.format(db=database),
        "GOVTRUST_REDIS_URL": REDIS_URL.format(n=redis_db),
    }


def drop_databases(names: list[str]) -> None:
    for name in names:
        subprocess.run(
            [
                "psql",
                "-q",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-c",
                f"DROP DATABASE IF EXISTS {name}",
            ],
            check=False,
            timeout=60,
            capture_output=True,
        )


LOG_PATTERNS = {
    "database is locked (SQLite)": "database is locked",
    "connection pool exhausted (QueuePool limit, 30 s)": "QueuePool limit",
}
# the headers of govtrust's own error records: JSON lines (one process), or plain text
# (uvicorn's worker processes with --workers > 1, where the JSON logging is not set up)
PLAIN_ERROR = re.compile(r"^(unhandled error|dependency unavailable)\b")


def log_errors(system: System) -> dict[str, int]:
    """govtrust's error records in its log, by kind; plain-text ones counted apart."""
    counts: dict[str, int] = {}
    try:
        lines = system.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return counts
    events: list[tuple[str, str]] = []  # (format, text)
    for line in lines:
        if line.startswith("{"):
            if '"level": "ERROR"' in line and '"logger": "govtrust.errors"' in line:
                events.append(("json", line))
        elif PLAIN_ERROR.match(line):
            events.append(("plain text", line))
        elif events and events[-1][0] == "plain text" and not line.startswith("{"):
            events[-1] = ("plain text", events[-1][1] + "\n" + line)
    for form, text in events:
        kind = next((k for k, p in LOG_PATTERNS.items() if p in text), None)
        if kind is None:
            match = re.search(r'"message": "([^"\\\n]{0,80})', text) or re.match(
                r"([^\n]{0,80})", text
            )
            kind = match.group(1) if match else "other"
        if form != "json":
            kind += " [plain-text log line]"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


# -- the report --------------------------------------------------------------------------


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rps": median(r.get("rps") for r in results),
        "p50": median(r.get("p50_ms") for r in results),
        "p99": median(r.get("p99_ms") for r in results),
        "errors": sum(int(r.get("errors") or 0) for r in results),
        "completed": sum(int(r.get("completed") or 0) for r in results),
        "cpu_ms": median(r.get("server_cpu_ms_per_iteration") for r in results),
        "server_cores": median(r.get("server_cores") for r in results),
        "loadgen_cores": median(r.get("loadgen_cores") for r in results),
        "other_cores": median(r.get("other_cores") for r in results),
        "runs": [r.get("rps") for r in results],
        "messages": {m: c for r in results for m, c in (r.get("error_messages") or {}).items()},
        "pages": next((r["pages"] for r in results if r.get("pages")), []),
    }


def interleaved(scenarios: list[str]) -> list[list[str]]:
    """The scenarios in batches whose rounds alternate: client credentials and
    introspection, when both are asked for, so that issue 9's "introspection ≥ 2× issuance"
    is a ratio of runs made side by side, round by round, as the ratios to the peer are."""
    batches: list[list[str]] = []
    for scenario in scenarios:
        if batches and scenario in SIDE_BY_SIDE and batches[-1][0] in SIDE_BY_SIDE:
            batches[-1].append(scenario)
        else:
            batches.append([scenario])
    return batches


def spread(pairs: Iterable[tuple[Any, Any]]) -> tuple[float | None, float | None, float | None]:
    """Median, least and greatest of ``mine ÷ theirs`` over the pairs where both are known."""
    values = [mine / theirs for mine, theirs in pairs if mine and theirs]
    if not values:
        return None, None, None
    return median(values), min(values), max(values)


def round_ratios(
    numerator: list[dict[str, dict[str, Any]]],
    denominator: list[dict[str, dict[str, Any]]],
    key: str,
    field_: str = "rps",
) -> tuple[float | None, float | None, float | None]:
    """``key``'s per-round ratio between two scenarios (:func:`spread`)."""
    pairs = zip(numerator, denominator, strict=False)
    return spread(
        (top.get(key, {}).get(field_), low.get(key, {}).get(field_)) for top, low in pairs
    )


def ratios(
    rounds: list[dict[str, dict[str, Any]]], key: str, peer: str = "peer", field_: str = "rps"
) -> tuple[float | None, float | None, float | None]:
    """``key`` against ``peer`` within each round (:func:`spread`)."""
    return spread((by.get(key, {}).get(field_), by.get(peer, {}).get(field_)) for by in rounds)


def render(
    args: argparse.Namespace,
    facts: dict[str, str],
    systems: list[System],
    limits: list[dict[str, float]],
    ceiling: dict[str, list[dict[str, Any]]],
    floor: list[dict[str, Any]],
    rounds: dict[str, list[dict[str, dict[str, Any]]]],
    stress: dict[str, dict[str, dict[str, Any]]],
    log_counts: dict[str, dict[str, int]],
    versions: dict[str, str],
    command: str,
    started: float,
) -> str:
    sign = median(limit["sign_per_s"] for limit in limits) or 0.0
    verify = median(limit["verify_per_s"] for limit in limits) or 0.0
    labels = {system.key: system.label for system in systems}
    keys = [system.key for system in systems if system.kind != "echo"]
    summary = {
        scenario: {
            key: summarise([by_system[key] for by_system in runs if key in by_system])
            for key in keys
        }
        for scenario, runs in rounds.items()
    }
    drivers: dict[str, list[str]] = {}
    for scenario in rounds:
        drivers.setdefault(generator(scenario, args.loadgen), []).append(scenario)
    if stress:
        drivers.setdefault(args.loadgen, [])
    described = "; ".join(
        f"{', '.join(f'*{s}*' for s in drivers[name]) or 'stress runs'}: "
        + GENERATORS[name].format(version=versions.get("wrk", "?"))
        for name in drivers
    )
    out: list[str] = ["## Identity provider (OpenID Connect)", ""]
    out += machine_lines(facts)
    out += [
        f"- Command: `{command}` ({(time.monotonic() - started) / 60:.1f} minutes in all; "
        f"load average {facts['loadavg']} at the start)",
        f"- Load generators (`--loadgen {args.loadgen}`): {described}. Each in its own "
        "process, one keep-alive connection per worker, closed loop, "
        f"{args.concurrency} concurrent workers ({args.login_concurrency} for logins), "
        f"{args.warmup:g} s warm-up (wrk: a separate, uncounted run) then "
        f"{args.duration:g} s measured, {args.runs} runs per system and scenario, "
        "interleaved round by round (order reversed every other round; client credentials "
        "and introspection alternate within each round). Figures are the "
        "median of the runs; ratios are the median of the per-round ratios (range in "
        "brackets). Each worker of *login* and each refresh chain logs in as a person of "
        f"its own ({LOGIN_USERS + 1} citizens with one password, `bench/login_users.py`; "
        "on both sides): govtrust's login throttle counts the logins of one account made "
        "at once as one attacker's guesses.",
        f"- Peer: npm `oidc-provider` {versions.get('oidc-provider', '?')} on Node "
        f"{versions.get('node', '?')} (`bench/oidc_provider/server.mjs`): the same two "
        "clients (client_secret_basic), ES256 keys generated at start, JWT access tokens "
        "(RFC 9068) via resource indicators, refresh tokens rotated on every use, a "
        "minimal login + consent interaction whose login checks an argon2id hash (npm "
        f"`argon2` {versions.get('argon2', '?')}) with govtrust's parameters; storage is "
        "its in-memory adapter (an LRU of 1,000 entries: nothing durable, nothing shared).",
        "- govtrust: `govtrust serve --demo` as shipped (development environment: production "
        "argon2id cost t=3, 64 MiB, p=4; its JSON access log, one line per request, to a file; "
        "a row per access token, client credentials included, committed before the "
        "token is answered, on PostgreSQL without waiting for the disk flush of the "
        "client-credentials rows: `GOVTRUST_ACCESS_TOKEN_ROWS_FLUSHED`).",
        f"- Physical limit: ES256 (ECDSA P-256, SHA-256) in `cryptography` on one core, "
        f"measured before and after the load runs: **{fmt(sign)} signatures/s** and "
        f"{fmt(verify)} verifications/s (runs: "
        + ", ".join(f"{fmt(limit['sign_per_s'])}/{fmt(limit['verify_per_s'])}" for limit in limits)
        + ").",
    ]
    if ceiling:
        out.append(
            "- Load generator ceilings (same settings, a trivial single-threaded Node HTTP "
            'server answering `200 {"ok":true}`): '
            + "; ".join(
                f"{name} {fmt(median(r.get('rps') for r in runs))} requests/s (the load "
                f"generator using {fmt(median(r.get('loadgen_cores') for r in runs), 2)} "
                f"cores, the trivial server {fmt(median(r.get('server_cores') for r in runs), 2)})"
                for name, runs in ceiling.items()
            )
            + ". A system measured near its load generator's ceiling is limited by the load "
            "generator (or, when the trivial server uses a whole core, the ceiling is that "
            "server's own limit); compare its *server CPU per request* instead."
        )
    if floor:
        rate = median(r.get("rps") for r in floor) or 0.0
        cores = median(r.get("server_cores") for r in floor) or 0.0
        per_core = rate / cores if cores else 0.0
        out.append(
            "- Python floor (`bench/floor_app.py`: a bare ASGI app answering a constant "
            f"token-sized JSON body on uvicorn {versions.get('uvicorn', '?')}, one worker, no "
            f"access log; wrk as above): **{fmt(rate)} requests/s**, the server using "
            f"{fmt(cores, 2)} cores, i.e. {fmt(per_core)} requests/s per core of server CPU = "
            f"{100 * per_core / sign:.1f}% of the one-core ES256 signing rate: "
            "what a Python service on uvicorn reaches on this machine before any work of its "
            "own (runs: " + ", ".join(fmt(r.get("rps")) for r in floor) + ")."
        )
    out += [
        "",
        "Columns: *req/s* successful iterations per second (an iteration of *login* is a "
        "whole login); *p50/p99* latency of one iteration; *errors* failed or abandoned "
        "iterations, all runs together; *server CPU* CPU time of the server's processes per "
        "iteration, and cores it kept busy; *other* cores busy with work that was neither "
        "the server nor the load generator (this machine is shared); *share of ES256* "
        "req/s divided by the one-core signing rate (× signatures per iteration in "
        "brackets when more than one); *vs peer* govtrust req/s ÷ oidc-provider req/s; *CPU "
        "per iteration vs peer* how many times the peer's server CPU an iteration costs "
        "govtrust (the comparison that holds even where the load generator limits the peer).",
        "",
    ]
    for scenario in SCENARIOS:
        if scenario not in summary:
            continue
        out += [f"### {TITLES[scenario]}", ""]
        rows = []
        for key in keys:
            if not takes_part(key, scenario):
                continue
            s = summary[scenario][key]
            share = ""
            if s["rps"] is not None and sign:
                if scenario == "introspection":
                    share = (
                        f"{100 * s['rps'] / sign:.1f}% (of verify: {100 * s['rps'] / verify:.1f}%)"
                    )
                else:
                    share = f"{100 * s['rps'] / sign:.1f}%"
                    if SIGNATURES[scenario] > 1:
                        share += f" ({100 * SIGNATURES[scenario] * s['rps'] / sign:.1f}%)"
            ratio, low, high = ratios(rounds[scenario], key)
            versus = (
                "1"
                if key == "peer"
                else (f"{ratio:.2f} [{low:.2f}-{high:.2f}]" if ratio is not None else "-")
            )
            cpu_ratio, _, _ = ratios(rounds[scenario], key, "peer", "server_cpu_ms_per_iteration")
            rows.append(
                [
                    labels[key],
                    f"**{fmt(s['rps'])}**",
                    fmt(s["p50"]),
                    fmt(s["p99"]),
                    str(s["errors"]),
                    f"{fmt(s['cpu_ms'], 2)} ms / {fmt(s['server_cores'], 2)}",
                    fmt(s["other_cores"], 2),
                    share,
                    versus,
                    "1" if key == "peer" else (f"{cpu_ratio:.1f}×" if cpu_ratio else "-"),
                ]
            )
        out += table(
            [
                "system",
                "req/s",
                "p50 ms",
                "p99 ms",
                "errors",
                "server CPU / iteration, cores",
                "other cores",
                "share of ES256 (1 core)",
                "vs peer",
                "CPU per iteration vs peer",
            ],
            rows,
        )
        runs_text = "; ".join(
            f"{labels[key]}: " + ", ".join(fmt(v) for v in summary[scenario][key]["runs"])
            for key in keys
            if takes_part(key, scenario)
        )
        out += ["", f"Runs (req/s, in order): {runs_text}."]
        name = generator(scenario, args.loadgen)
        cap = median(r.get("rps") for r in ceiling.get(name, []))
        out.append(f"Load generator: {name} (ceiling {fmt(cap)} requests/s).")
        if scenario == "login":
            pages = {
                labels[k]: summary[scenario][k]["pages"] for k in keys if takes_part(k, scenario)
            }
            out.append(
                "Pages per login: "
                + "; ".join(f"{label}: {' → '.join(p) or '-'}" for label, p in pages.items())
                + ". Each login verifies one argon2id hash (t=3, 64 MiB, p=4), which is most "
                "of its CPU cost on either side."
            )
        messages = {
            labels[k]: summary[scenario][k]["messages"]
            for k in keys
            if summary[scenario][k]["messages"]
        }
        for label, found in messages.items():
            top = sorted(found.items(), key=lambda item: -item[1])[:3]
            out.append(
                f"Errors seen ({label}): "
                + "; ".join(f"{count}× `{message[:200]}`" for message, count in top)
            )
        out.append("")
    # targets of issue 9
    out += ["### Targets of issue 9", ""]
    target_rows = []
    cc = summary.get("client_credentials", {})
    cc_rounds, intro_rounds = rounds.get("client_credentials", []), rounds.get("introspection", [])
    for key in keys:
        peer = key == "peer"
        cc_rps = cc.get(key, {}).get("rps")
        ratio, _, _ = ratios(cc_rounds, key)
        per_round = round_ratios(intro_rounds, cc_rounds, key)
        cpu = round_ratios(cc_rounds, intro_rounds, key, "server_cpu_ms_per_iteration")
        target_rows.append(
            [
                labels[key],
                "-" if peer else f"{ratio:.2f}× peer" if ratio else "-",
                f"{100 * cc_rps / sign:.1f}%" if cc_rps and sign else "-",
                f"{per_round[0]:.2f}× [{per_round[1]:.2f}-{per_round[2]:.2f}]"
                if per_round[0]
                else "-",
                f"{cpu[0]:.2f}×" if cpu[0] else "-",
            ]
        )
    out += table(
        [
            "system",
            "client credentials vs peer (target ≥ 1, 2 workers)",
            "client credentials / ES256 sign rate (target ≥ 25%)",
            "introspection / issuance (target ≥ 2×), median of the rounds [range]",
            "server CPU per request, issuance ÷ introspection",
        ],
        target_rows,
    )
    if intro_rounds:
        out += [
            "",
            "Client credentials and introspection alternate within each round (one run of "
            "each system in each scenario per round), so the introspection ÷ issuance ratio "
            "is taken round by round from runs about a minute apart. The last column compares "
            "what one request costs the server, which the machine's other load moves less; "
            "the peer's row is for comparison.",
        ]
    out.append("")
    out += budget_lines(cc_rounds, labels, sign, int(facts["nproc"]), floor)
    # stress
    if stress:
        out += [
            f"### Stress: {args.stress_concurrency} concurrent workers, one "
            f"{args.stress_duration:g} s run each",
            "",
            f"Above the main runs' {args.concurrency} workers; load generator: "
            f"{args.loadgen}. "
            + (
                "A request unanswered after 5 s counts as an error (wrk timeout); requests "
                "still in flight when the window closes are not counted. "
                if args.loadgen == "wrk"
                else "An iteration still in flight 5 s after the window is abandoned and "
                "counted as an error. "
            )
            + "The last column: one "
            "client-credentials request sent as the run ends (60 s timeout), and when it "
            "was answered.",
            "",
        ]
        rows = []
        for scenario, by_system in stress.items():
            for key in keys:
                r = by_system.get(key)
                if r is None:
                    continue
                top = sorted((r.get("error_messages") or {}).items(), key=lambda i: -i[1])[:1]
                rows.append(
                    [
                        scenario,
                        labels[key],
                        fmt(r.get("rps")),
                        fmt(r.get("p99_ms")),
                        str(r.get("errors", 0)),
                        f"`{top[0][0][:140]}` ({top[0][1]}×)" if top else "",
                        (r.get("after") or {}).get("text", "-"),
                    ]
                )
        out += table(
            [
                "scenario",
                "system",
                "req/s",
                "p99 ms",
                "errors",
                "first error",
                "one token request right after",
            ],
            rows,
        )
        out.append("")
    # server logs
    out += ["### Server-side errors logged during the whole session", ""]
    for key in keys:
        if key == "peer":
            continue
        counts = log_counts.get(key, {})
        text = ", ".join(f"{kind}: {count}" for kind, count in counts.items()) or "none"
        out.append(f"- {labels[key]}: {text}")
    out += [
        "",
        "### Published figures (documented by their vendors, not measured here)",
        "",
        "- Keycloak sizes a cluster at one vCPU per 15 password-based user logins per second "
        "and one vCPU per 120 client-credential grants per second (Keycloak documentation, "
        '"Concepts for sizing CPU and memory resources", '
        "https://www.keycloak.org/high-availability/concepts-memory-and-cpu-sizing). "
        "Here, per second of one core of server CPU (1,000 ÷ server CPU ms per iteration; "
        "the load generator and other work excluded): "
        + "; ".join(
            f"{labels[k]}: {fmt(1000 / cc[k]['cpu_ms']) if cc.get(k, {}).get('cpu_ms') else '-'}"
            " grants, "
            + (
                fmt(1000 / summary["login"][k]["cpu_ms"], 1)
                if summary.get("login", {}).get(k, {}).get("cpu_ms")
                else "-"
            )
            + " logins"
            for k in keys
            if takes_part(k, "login")
        )
        + ".",
        "- Ory Hydra publishes about 500 client-credential grants/s on 2 CPUs (its benchmark "
        "runs against its in-memory storage).",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0, help="measured s per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--login-concurrency", type=int, default=8)
    parser.add_argument("--stress-concurrency", type=int, default=32)
    parser.add_argument("--stress-duration", type=float, default=4.0)
    parser.add_argument("--no-stress", action="store_true")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--skip-stamping", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep scratch dir and databases")
    parser.add_argument(
        "--loadgen",
        choices=("wrk", "httpx"),
        default="wrk",
        help="load generator of client_credentials, introspection (stress runs included) "
        "and refresh (login: always httpx, bench/loadgen.py)",
    )
    args = parser.parse_args(argv)
    command = "python bench/run.py" + (
        " " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        if (argv if argv is not None else sys.argv[1:])
        else ""
    )
    started = time.monotonic()
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    # the load generators this run uses, each measured against the trivial server
    generators = sorted(
        {generator(s, args.loadgen) for s in scenarios}
        | (set() if args.no_stress else {args.loadgen}),
        reverse=True,
    )
    if "wrk" in generators:
        wrk_load.wrk_path()  # exits naming the Debian package when wrk is missing
    install_peer()
    check_backends()
    facts = machine()
    versions = {
        "node": subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
        .stdout.strip()
        .lstrip("v"),
        "oidc-provider": json.loads(
            (BENCH / "node_modules" / "oidc-provider" / "package.json").read_text()
        )["version"],
        "argon2": json.loads((BENCH / "node_modules" / "argon2" / "package.json").read_text())[
            "version"
        ],
    }
    if "wrk" in generators:
        versions["wrk"] = wrk_load.version()
        versions["uvicorn"] = importlib.metadata.version("uvicorn")
    scratch = Path(tempfile.mkdtemp(prefix="govtrust-bench-"))
    databases = [
        "bench_govtrust_pg1",
        "bench_govtrust_pg2",
        "bench_govtrust_pg2f",
        "bench_govtrust_pg2r",
    ]
    systems: list[System] = []
    extras: list[System] = []
    try:
        log("starting govtrust (embedded), govtrust (PostgreSQL + Redis, 1 and 2 workers)")
        systems.append(start_govtrust("gt_embedded", "govtrust embedded, 1 worker", 1, scratch, {}))
        systems.append(
            start_govtrust(
                "gt_pg1",
                "govtrust PG+Redis, 1 worker",
                1,
                scratch,
                fresh_backends(databases[0], 12),
            )
        )
        systems.append(
            start_govtrust(
                "gt_pg2",
                "govtrust PG+Redis, 2 workers",
                2,
                scratch,
                fresh_backends(databases[1], 11),
            )
        )
        if "client_credentials" in scenarios:
            systems.append(
                start_govtrust(
                    FLUSHED,
                    "govtrust PG+Redis, 2 workers, token rows flushed to disk (opt-in)",
                    2,
                    scratch,
                    {
                        **fresh_backends(databases[2], 10),
                        "GOVTRUST_ACCESS_TOKEN_ROWS_FLUSHED": "true",
                    },
                )
            )
        if {"client_credentials", "introspection"} & set(scenarios):
            systems.append(
                start_govtrust(
                    ROWLESS,
                    "govtrust PG+Redis, 2 workers, client-credentials tokens without rows (opt-in)",
                    2,
                    scratch,
                    {
                        **fresh_backends(databases[3], 9),
                        "GOVTRUST_CLIENT_CREDENTIALS_TOKEN_ROWS": "false",
                    },
                )
            )
        log("starting oidc-provider and the ceiling server")
        systems.append(start_peer(scratch, systems[0].target))
        echo = start_echo(scratch)
        extras.append(echo)
        floor = start_floor(scratch) if "wrk" in generators else None
        if floor is not None:
            extras.append(floor)
        for system in [*systems, echo]:
            system.target_path = system.workdir / "target.json"
            system.target_path.write_text(json.dumps(system.target), encoding="utf-8")

        log("ES256 limit (before)")
        limits = [es256_limit(2.0)]
        ceiling: dict[str, list[dict[str, Any]]] = {}
        for name in generators:
            ceiling[name] = []
            for _ in range(args.runs):
                result = run_loadgen(echo, "ceiling", args.concurrency, 4.0, 1.0, name)
                ceiling[name].append(result)
                log(f"load generator ceiling ({name}): {result.get('rps')} req/s")
        floor_runs: list[dict[str, Any]] = []
        if floor is not None:
            for _ in range(args.runs):
                result = run_loadgen(floor, "ceiling", args.concurrency, 4.0, 1.0, "wrk")
                floor_runs.append(result)
                log(f"Python floor (bare ASGI app on uvicorn): {result.get('rps')} req/s")
        rounds: dict[str, list[dict[str, dict[str, Any]]]] = {}
        stress: dict[str, dict[str, dict[str, Any]]] = {}
        for batch in interleaved(scenarios):
            for scenario in batch:
                rounds[scenario] = []
            for index in range(args.runs):
                for scenario in batch:
                    rounds[scenario].append(measure_round(systems, scenario, index, args))
            for scenario in batch:
                if args.no_stress or scenario not in SIDE_BY_SIDE:
                    continue
                stress[scenario] = {}
                for system in [s for s in systems if takes_part(s.key, scenario)]:
                    result = run_loadgen(
                        system,
                        scenario,
                        args.stress_concurrency,
                        args.stress_duration,
                        1.0,
                        args.loadgen,
                    )
                    result["after"] = probe(system)  # does it answer again?
                    stress[scenario][system.key] = result
                    log(
                        f"stress {scenario} {system.key}: {result.get('rps')} req/s, "
                        f"errors {result.get('errors')}"
                    )
            # a variant done with its scenarios stops: its idle pools would otherwise hold
            # PostgreSQL connections (max_connections 100) the systems still measured need
            later = scenarios[scenarios.index(batch[-1]) + 1 :]
            for system in systems:
                if system.key in VARIANTS and not any(takes_part(system.key, s) for s in later):
                    system.stop()
        log("ES256 limit (after)")
        limits.append(es256_limit(2.0))
        log_counts = {system.key: log_errors(system) for system in systems}
        text = render(
            args,
            facts,
            [*systems, echo],
            limits,
            ceiling,
            floor_runs,
            rounds,
            stress,
            log_counts,
            versions,
            command,
            started,
        )
        write_section("idp", text)
        raw = BENCH / "results"
        raw.mkdir(exist_ok=True)
        (raw / "idp.json").write_text(
            json.dumps(
                {
                    "machine": facts,
                    "versions": versions,
                    "command": command,
                    "es256": limits,
                    "loadgen": {
                        **{s: generator(s, args.loadgen) for s in scenarios},
                        **({"stress": args.loadgen} if stress else {}),
                    },
                    "ceiling": ceiling,
                    "python_floor": floor_runs,
                    "rounds": rounds,
                    "stress": stress,
                    "server_log_errors": log_counts,
                },
                indent=1,
                ensure_ascii=False,
            )
            + "\n",
            encoding="utf-8",
        )
        log("wrote bench/RESULTS.md (identity provider) and bench/results/idp.json")
    finally:
        for system in [*systems, *extras]:
            system.stop()
        if not args.keep:
            drop_databases(databases)
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            log(f"kept {scratch}")
    if not args.skip_stamping:
        log("stamping benchmark")
        subprocess.run([sys.executable, str(BENCH / "stamping.py")], check=True, cwd=ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
