"""How cost grows with what is stored: client-credentials issuance and introspection with
10^3, 10^5 and 10^6 registered clients and stored access tokens, on PostgreSQL + Redis.

    .venv/bin/python bench/scale.py         # ~6 minutes; writes its section of RESULTS.md

govtrust ``serve --demo`` (one worker) runs on a fresh database (``bench_govtrust_scale``,
Redis database 14). Before each size the tables ``oauth_clients`` and
``oauth_access_tokens`` are filled up to that many rows with one SQL statement each
(copies of the demo service client under new ids; token rows of that client, a tenth of
them revoked), followed by ``ANALYZE``; then a load generator in its own process (wrk, or
``loadgen.py`` with ``--loadgen httpx``, as in ``run.py``) runs client credentials and
introspection ``--runs`` times, interleaved.
Licence verification with a million licences is measured by ``bench/verify.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import fmt, machine, machine_lines, median, table, write_section
from run import check_backends, drop_databases, fresh_backends, run_loadgen, start_govtrust

DATABASE = "bench_govtrust_scale"
SIZES = (1_000, 100_000, 1_000_000)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fill(database_url: str, service_client_id: str, size: int) -> float:
    """Grow both tables to ``size`` rows; seconds taken."""
    import psycopg

    began = time.perf_counter()
    with psycopg.connect(database_url.replace("postgresql+psycopg", "postgresql")) as db:
        clients = db.execute("SELECT count(*) FROM oauth_clients").fetchone()
        tokens = db.execute("SELECT count(*) FROM oauth_access_tokens").fetchone()
        have_clients = int(clients[0]) if clients else 0
        have_tokens = int(tokens[0]) if tokens else 0
        columns = [
            row[0]
            for row in db.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'oauth_clients' AND column_name <> 'client_id'"
            )
        ]
        listed = ", ".join(columns)
        db.execute(
            f"INSERT INTO oauth_clients (client_id, {listed}) "
            f"SELECT 'bench-client-' || n, {listed} FROM oauth_clients, "
            "generate_series(%(start)s::bigint, %(stop)s::bigint) AS n "
            "WHERE client_id = %(template)s",
            {"start": have_clients, "stop": size - 1, "template": service_client_id},
        )
        db.execute(
            "INSERT INTO oauth_access_tokens "
            "(jti, grant_id, client_id, subject, scope, issued_at, expires_at, revoked_at) "
            "SELECT 'bench-' || n, NULL, %(client)s, %(client)s, 'licence:read', now(), "
            "now() + interval '1 hour', CASE WHEN n %% 10 = 0 THEN now() ELSE NULL END "
            "FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS n",
            {"client": service_client_id, "start": have_tokens, "stop": size - 1},
        )
        db.execute("ANALYZE oauth_clients")
        db.execute("ANALYZE oauth_access_tokens")
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--loadgen", choices=("wrk", "httpx"), default="wrk")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    check_backends()
    facts = machine()
    results: dict[int, dict[str, list[dict[str, Any]]]] = {}
    fill_seconds: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="govtrust-bench-scale-") as name:
        scratch = Path(name)
        env = fresh_backends(DATABASE, 14)
        system = start_govtrust("scale", "govtrust PG+Redis, 1 worker", 1, scratch, env)
        system.target_path = system.workdir / "target.json"
        system.target_path.write_text(json.dumps(system.target), encoding="utf-8")
        try:
            for size in SIZES:
                log(f"filling to {size:,} clients and tokens")
                fill_seconds[size] = fill(
                    env["GOVTRUST_DATABASE_URL"], system.target["service"]["client_id"], size
                )
                for _ in range(args.runs):
                    for scenario in ("client_credentials", "introspection"):
                        outcome = run_loadgen(
                            system, scenario, args.concurrency, args.seconds, 1.0, args.loadgen
                        )
                        results.setdefault(size, {}).setdefault(scenario, []).append(outcome)
                        log(f"{size:,} {scenario}: {outcome.get('rps', 0):.0f} req/s")
        finally:
            system.stop()
            drop_databases([DATABASE])
    report = render(facts, args, results, fill_seconds)
    if args.no_write:
        print(report)
    else:
        write_section("scale", report)
    return 0


def render(
    facts: dict[str, str],
    args: argparse.Namespace,
    results: dict[int, dict[str, list[dict[str, Any]]]],
    fill_seconds: dict[int, float],
) -> str:
    lines = [
        "## How cost grows with stored clients and tokens (issue 9)",
        "",
        *machine_lines(facts),
        f"- Command: `.venv/bin/python bench/scale.py --runs {args.runs} --seconds "
        f"{args.seconds:g} --concurrency {args.concurrency} --loadgen {args.loadgen}` (load "
        f"average at the start: "
        f"{facts['loadavg']}); govtrust on PostgreSQL + Redis, one worker; the machine is "
        "shared, medians of interleaved rounds.",
        "",
    ]
    rows = []
    for size, scenarios in results.items():
        for scenario, runs in scenarios.items():
            rows.append(
                [
                    f"{size:,}",
                    scenario.replace("_", " "),
                    fmt(median(run.get("rps") for run in runs)),
                    fmt(median(run.get("p50_ms") for run in runs)),
                    fmt(median(run.get("p99_ms") for run in runs)),
                    fmt(median(run.get("server_cpu_ms_per_iteration") for run in runs), 2),
                    str(sum(int(run.get("errors", 0)) for run in runs)),
                ]
            )
    lines += table(
        [
            "clients = tokens stored",
            "scenario",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "server CPU ms/request",
            "errors",
        ],
        rows,
    )
    lines += [
        "",
        "Rows were added with one `INSERT ... SELECT generate_series` per table ("
        + ", ".join(f"{size:,}: {seconds:.0f} s" for size, seconds in fill_seconds.items())
        + "). Client lookup is by primary key and token lookup (introspection's revocation "
        "check) by `jti`, so the cost should stay flat: any growth shown here is the index "
        "depth and the cache.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
