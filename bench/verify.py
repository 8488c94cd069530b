"""Licence verification per second: offline (the verifier in one process, one core) and
online (``POST /verify`` against the running service), beside the raw ECDSA P-256
verification rate of ``cryptography`` measured in the same run.

    .venv/bin/python bench/verify.py        # ~4 minutes; writes its section of RESULTS.md

What it does:

1. For each system under test, a fresh data directory: the embedded default (SQLite +
   in-process cache) and PostgreSQL + Redis (database ``bench_govtrust_verify``, Redis
   database 13, emptied first). In this process: migrate, create the keys, register the
   demo licence types, issue ``--licences`` business licences and make their electronic
   QR texts (``services.licence_qr``), as the service does.
2. "10^6 licences": the PostgreSQL system is measured again after 1,000,000 more licence
   rows (copies of one issued row; 1 % of them, chosen at random, revoked) are inserted with
   one SQL statement and the status-list counter moved past them; the published status list
   then holds 1,000,200+ entries. Its cold build time and size are measured.
3. ``govtrust serve`` (1 worker, and 2 on PostgreSQL) in its own process; a load process
   posts the QR texts round-robin for ``--seconds`` with ``--concurrency`` requests in
   flight on keep-alive connections: wrk (``--loadgen wrk``, the default: one thread, a Lua
   script cycling through the texts and counting the answers whose verdict is ``valid``,
   after an uncounted 2 s warm-up) or ``verify.py drive`` (``--loadgen httpx``: asyncio +
   httpx, which tops out below the service on two cores and then measures itself);
   requests/s, p50/p99, and with wrk the server's CPU per request (``/proc``).
4. Offline: the trust list and status list as a verifier downloads them, then
   ``verify_qr_text`` over the same texts in a loop on one core; and ECDSA P-256
   ``verify`` of one signature in a loop. Rounds are interleaved (``--runs``); medians.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from report import fmt, machine, machine_lines, median, table, write_section

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "bench_govtrust_verify"
REDIS = "redis://127.0.0.1:6379/13"
FILLER = 1_000_000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the systems ----------------------------------------------------------------------------


def fresh_postgres() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE}")
        connection.execute(f"CREATE DATABASE {PG_DATABASE}")
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    return f"postgresql://postgres@127.0.0.1:5432/{PG_DATABASE}"


def environment(workdir: Path, base: str, backend: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVTRUST_")}
    env.update(
        GOVTRUST_ISSUER=base,
        GOVTRUST_DATA_DIR=str(workdir / "var"),
        GOVTRUST_ENVIRONMENT="development",
    )
    if backend == "postgres":
        env.update(GOVTRUST_DATABASE_URL=fresh_postgres(), GOVTRUST_REDIS_URL=REDIS)
    return env


@contextmanager
def settings_from(env: dict[str, str]) -> Any:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        from core.settings import Settings

        yield Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def prepare(env: dict[str, str], licences: int) -> list[str]:
    """Migrate, make keys, issue ``licences`` licences; their QR texts."""
    from certs.demo_types import BUSINESS_LICENCE, demo_licence_types
    from certs.service import LicenceService
    from core.db.migrate import upgrade
    from core.services import build_services

    with settings_from(env) as settings:
        services = build_services(settings)
    try:
        upgrade(services.engine)
        services.keys.init()
        registry = LicenceService(
            services.sessions, services.identifiers, services.audit, services.keys.clock
        )
        for licence_type in demo_licence_types():
            registry.register_type(licence_type, "bench")
        fields = {
            "name": "长春示例科技有限公司",
            "type": "有限责任公司",
            "legal_representative": "张三",
            "registered_capital": "伍佰万元整",
            "established": "2020-05-01",
            "address": "吉林省长春市南关区人民大街1号",
            "business_scope": "软件开发；信息技术咨询服务",
        }
        texts = []
        for _ in range(licences):
            licence = registry.issue(
                BUSINESS_LICENCE,
                "11220000013544541J",
                "吉林省市场监督管理厅",
                fields["name"],
                "91350100M000100Y43",
                fields,
                date(2026, 11, 1),
                "bench",
            )
            texts.append(services.licence_qr.electronic(licence))
        return texts
    finally:
        services.close()


def add_filler(env: dict[str, str], count: int) -> float:
    """``count`` more licence rows (copies of an issued one; 1 % at random revoked), each
    with its own status-list index; seconds taken. PostgreSQL (``random()``)."""
    from sqlalchemy import text

    from core.services import build_services

    with settings_from(env) as settings:
        services = build_services(settings)
    columns = (
        "type_code, version, issuer_uscc, issuer_name, holder_name, holder_code_type, "
        "holder_code_index, holder_code_encrypted, holder_code, holder_code_masked, fields, "
        "issued_on, valid_from, valid_until, created_at, state_changed_at, state_reason"
    )
    statement = text(
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :count) "
        f"INSERT INTO licences (identifier, licence_number, serial, state, status_list_index, "
        f"{columns}) "
        "SELECT 'bench.' || CAST(n AS TEXT), 'B' || CAST(n AS TEXT), 'F' || CAST(n AS TEXT), "
        "CASE WHEN random() < 0.01 THEN 'revoked' ELSE 'valid' END, :base + n, "
        f"{columns} FROM g, (SELECT * FROM licences ORDER BY status_list_index LIMIT 1) AS t"
    )
    began = time.perf_counter()
    try:
        with services.engine.begin() as connection:
            base = connection.execute(
                text("SELECT last_value FROM licence_counters WHERE name = 'status-list'")
            ).scalar_one()
            connection.execute(statement, {"count": count, "base": base})
            connection.execute(
                text("UPDATE licence_counters SET last_value = :v WHERE name = 'status-list'"),
                {"v": base + count + 1},
            )
    finally:
        services.close()
    return time.perf_counter() - began


class Server:
    def __init__(self, env: dict[str, str], workdir: Path, port: int, workers: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log = (workdir / f"serve-{workers}.log").open("wb")
        command = [sys.executable, "-m", "core", "serve", "--no-migrate"]
        command += ["--port", str(port), "--workers", str(workers)]
        self.process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"govtrust serve exited; see {self.log.name}")
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("govtrust serve did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


# -- the load process --------------------------------------------------------------------------


async def _drive(url: str, texts: list[str], seconds: float, concurrency: int) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    verdicts: dict[str, int] = {}
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        await client.post("/verify", json={"qr": texts[0]})  # warm-up

        async def worker(start: int) -> None:
            nonlocal errors
            index = start
            while time.perf_counter() < stop_at:
                began = time.perf_counter()
                response = await client.post("/verify", json={"qr": texts[index % len(texts)]})
                latencies.append(time.perf_counter() - began)
                if response.status_code != 200:
                    errors += 1
                else:
                    verdict = response.json()["verdict"]
                    verdicts[verdict] = verdicts.get(verdict, 0) + 1
                index += concurrency

        began = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "verdicts": verdicts,
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
    }


WARMUP_SECONDS = 2.0


def drive_wrk(server: Server, texts: list[str], seconds: float, concurrency: int) -> dict[str, Any]:
    """One run with wrk: the texts in turn, an answer counted when its verdict is valid."""
    import wrk_load
    from cpu_time import cpu_seconds
    from run import descendants

    bodies = ", ".join(wrk_load.lua_string(json.dumps({"qr": text})) for text in texts)
    lua = wrk_load.LUA % {
        "body": "nil",
        "auth": "",
        "check": 'and string.find(body, \'"verdict":"valid"\', 1, true)',
        "mark": wrk_load.MARK,
    }
    lua += (
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"local bodies = {{{bodies}}}\n"
        "local turn = 0\n"
        "function request()\n"
        "  turn = turn % #bodies + 1\n"
        "  return wrk.format(nil, nil, nil, bodies[turn])\n"
        "end\n"
    )
    with tempfile.TemporaryDirectory(prefix="govtrust-verify-wrk-") as scratch:
        script = Path(scratch) / "verify.lua"
        script.write_text(lua, encoding="utf-8")
        url = server.base + "/verify"
        wrk_load.wrk_once(script, url, concurrency, WARMUP_SECONDS)
        pids = descendants(server.process.pid)
        before = cpu_seconds(pids)
        result = wrk_load.wrk_once(script, url, concurrency, seconds)
        cpu = cpu_seconds(pids) - before
    wall = result["duration_us"] / 1e6
    ok = result["ok"]
    socket_errors = sum(result[kind] for kind in ("connect", "read", "write", "timeout"))
    return {
        "requests": result["requests"],
        "errors": result["bad"] + socket_errors,
        "rps": ok / wall,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "server_cpu_ms": 1000 * cpu / ok if ok else None,
        "server_cores": cpu / wall,
        "messages": result.get("messages", {}),
    }


def drive(server: Server, texts_file: Path, seconds: float, concurrency: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "drive", server.base, str(texts_file)]
    command += ["--seconds", str(seconds), "--concurrency", str(concurrency)]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    result: dict[str, Any] = json.loads(output.stdout)
    return result


# -- in-process rates -------------------------------------------------------------------------


def rate(step: Callable[[], object], seconds: float) -> float:
    step()
    count, began = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - began) < seconds:
        for _ in range(50):
            step()
        count += 50
    return count / elapsed


def raw_verify_rate(seconds: float) -> float:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    data = b"x" * 300
    signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    public = key.public_key()
    return rate(lambda: public.verify(signature, data, ec.ECDSA(hashes.SHA256())), seconds)


def offline_verifier(base: str) -> Callable[[str], object]:
    """A verifier as ``govtrust verify`` sets it up: lists downloaded and checked."""
    import httpx
    from cryptography import x509

    from verify.status_list import read_status_list
    from verify.status_sources import StatusListStatus
    from verify.trust_list import read_trust_list
    from verify.verifier import verify_qr_text

    bundle = httpx.get(base + "/pki/trust", timeout=30).json()
    root_pem = next(c["pem"] for c in bundle["certificates"] if c["purpose"] == "root")
    trust = read_trust_list(
        httpx.get(base + "/verify/trust-list", timeout=30).text,
        x509.load_pem_x509_certificate(root_pem.encode()),
    )
    token = read_status_list(httpx.get(trust.status_lists[0], timeout=60).text, trust.jws_keys())
    status = StatusListStatus({token.uri: token})
    from datetime import UTC, datetime

    return lambda text: verify_qr_text(text, trust, status, datetime.now(UTC))


def status_list_cold(base: str) -> tuple[float, int]:
    """Seconds for the first status-list request (a cold build) and the token's bytes."""
    import httpx

    began = time.perf_counter()
    response = httpx.get(base + "/verify/status-lists/1", timeout=120)
    return time.perf_counter() - began, len(response.content)


# -- the run ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--licences", type=int, default=200)
    parser.add_argument("--filler", type=int, default=FILLER)
    parser.add_argument("--no-write", action="store_true", help="Print, do not write RESULTS.md")
    parser.add_argument(
        "--loadgen",
        choices=("wrk", "httpx"),
        default="wrk",
        help="the online load generator: wrk (Debian package wrk) or asyncio + httpx",
    )
    args = parser.parse_args(argv)
    facts = machine()
    results: dict[str, list[dict[str, Any]]] = {}
    offline: list[float] = []
    raw: list[float] = []
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="govtrust-bench-verify-") as scratch_name:
        scratch = Path(scratch_name)
        systems: list[tuple[str, str, int, dict[str, str]]] = []
        for key, backend in (("embedded", "embedded"), ("postgres", "postgres")):
            workdir = scratch / key
            workdir.mkdir()
            port = free_port()
            env = environment(workdir, f"http://127.0.0.1:{port}", backend)
            log(f"preparing {key}: {args.licences} licences")
            (workdir / "texts.json").write_text(json.dumps(prepare(env, args.licences)))
            systems.append((key, str(workdir), port, env))

        def measure(label: str, workdir: str, port: int, env: dict[str, str], workers: int) -> None:
            server = Server(env, Path(workdir), port, workers)
            texts_file = Path(workdir) / "texts.json"
            try:
                if args.loadgen == "wrk":
                    texts_now = json.loads(texts_file.read_text())
                    outcome = drive_wrk(server, texts_now, args.seconds, args.concurrency)
                else:
                    outcome = drive(server, texts_file, args.seconds, args.concurrency)
                results.setdefault(label, []).append(outcome)
                log(f"{label}: {outcome['rps']:.0f} req/s, errors {outcome['errors']}")
                if label == "embedded, 1 worker":
                    verifier = offline_verifier(server.base)
                    texts = json.loads(texts_file.read_text())
                    position = iter(range(10**9))
                    offline.append(rate(lambda: verifier(texts[next(position) % len(texts)]), 3.0))
                    raw.append(raw_verify_rate(2.0))
                    log(f"offline {offline[-1]:.0f}/s, raw ECDSA verify {raw[-1]:.0f}/s")
            finally:
                server.stop()

        embedded, postgres = systems
        small = [
            ("embedded, 1 worker", *embedded[1:], 1),
            ("PostgreSQL + Redis, 1 worker", *postgres[1:], 1),
            ("PostgreSQL + Redis, 2 workers", *postgres[1:], 2),
        ]
        for round_number in range(args.runs):
            order = small if round_number % 2 == 0 else list(reversed(small))
            for label, workdir, port, env, workers in order:
                measure(label, workdir, port, env, workers)
        log(f"adding {args.filler:,} licences to PostgreSQL")
        extra["filler_seconds"] = add_filler(postgres[3], args.filler)
        server = Server(postgres[3], Path(postgres[1]), postgres[2], 2)
        try:
            extra["status_list_cold_seconds"], extra["status_list_bytes"] = status_list_cold(
                server.base
            )
        finally:
            server.stop()
        for _ in range(args.runs):
            measure(
                f"PostgreSQL + Redis, 2 workers, {args.filler:,} more licences",
                postgres[1],
                postgres[2],
                postgres[3],
                2,
            )
    report = render(facts, args, results, offline, raw, extra)
    if args.no_write:
        print(report)
    else:
        write_section("verify", report)
        (Path(__file__).resolve().parent / "results").mkdir(exist_ok=True)
        raw_path = Path(__file__).resolve().parent / "results" / "verify.json"
        raw_path.write_text(
            json.dumps(
                {"machine": facts, "online": results, "offline": offline, "raw": raw, **extra},
                indent=2,
            )
        )
    return 0


def render(
    facts: dict[str, str],
    args: argparse.Namespace,
    results: dict[str, list[dict[str, Any]]],
    offline: list[float],
    raw: list[float],
    extra: dict[str, Any],
) -> str:
    raw_median = median(raw)
    lines = [
        "## Licence verification (verify/)",
        "",
        *machine_lines(facts),
        f"- Command: `.venv/bin/python bench/verify.py --runs {args.runs} --seconds "
        f"{args.seconds:g} --concurrency {args.concurrency} --licences {args.licences} "
        f"--loadgen {args.loadgen}` (load average at the start: {facts['loadavg']})",
        "- Online load generator: "
        + (
            "wrk (one thread, a Lua script posting the QR texts in turn; an answer counts when "
            "its verdict is `valid`; an uncounted 2 s warm-up before each run)"
            if args.loadgen == "wrk"
            else "`verify.py drive` (asyncio + httpx in its own process; it tops out below "
            "the service on two cores, so these rates are partly its own)"
        )
        + "; server CPU from `/proc` (the server's processes) where shown.",
        "- The machine is shared: other work ran at the same time; rounds are interleaved "
        "and the medians of the rounds are shown.",
        "",
        f"Raw ECDSA P-256 verification in `cryptography`, one core: **{fmt(raw_median)}/s**.",
        "",
    ]
    offline_median = median(offline)
    share = (
        "-"
        if offline_median is None or not raw_median
        else f"{100 * offline_median / raw_median:.0f} %"
    )
    lines += table(
        ["offline (one process, one core)", "verifications/s", "share of raw ECDSA verify"],
        [["`verify_qr_text` with cached trust and status lists", fmt(offline_median), share]],
    )
    lines += ["", f"Online `POST /verify`, {args.concurrency} requests in flight:", ""]
    rows = []
    for label, runs in results.items():
        rps = median(run["rps"] for run in runs)
        cpu = median(run["server_cpu_ms"] for run in runs if run.get("server_cpu_ms"))
        cores = median(run["server_cores"] for run in runs if run.get("server_cores"))
        rows.append(
            [
                label,
                fmt(rps),
                fmt(median(run["p50_ms"] for run in runs)),
                fmt(median(run["p99_ms"] for run in runs)),
                str(sum(run["errors"] for run in runs)),
                "-" if cpu is None or cores is None else f"{cpu:.2f} ms / {cores:.2f}",
                "-" if not raw_median or rps is None else f"{100 * rps / raw_median:.0f} %",
            ]
        )
    lines += table(
        [
            "system",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "server CPU / request, cores",
            "share of raw verify",
        ],
        rows,
    )
    if extra:
        lines += [
            "",
            f"With {args.filler:,} more licences (inserted in "
            f"{extra['filler_seconds']:.0f} s; 1 % revoked at random) the published status list is "
            f"{extra['status_list_bytes'] / 1024:.1f} KB and its first (cold) build took "
            f"{extra['status_list_cold_seconds']:.1f} s; it is then served from the cache and "
            "rebuilt at most every 5 s by one worker while the others serve the previous one.",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "drive":
        parser = argparse.ArgumentParser()
        parser.add_argument("command")
        parser.add_argument("url")
        parser.add_argument("texts")
        parser.add_argument("--seconds", type=float, default=8.0)
        parser.add_argument("--concurrency", type=int, default=16)
        options = parser.parse_args()
        texts = json.loads(Path(options.texts).read_text())
        print(
            json.dumps(
                asyncio.run(_drive(options.url, texts, options.seconds, options.concurrency))
            )
        )
        sys.exit(0)
    sys.exit(main())
