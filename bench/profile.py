"""Profile govtrust's token endpoints under load with py-spy; print where the CPU goes.

    .venv/bin/pip install py-spy
    .venv/bin/python bench/profile.py                       # embedded, 1 worker
    .venv/bin/python bench/profile.py --backend pg          # PostgreSQL + Redis
    .venv/bin/python bench/profile.py --scenarios refresh --keep-raw /tmp/profiles
    .venv/bin/python bench/profile.py --setting CLIENT_CREDENTIALS_TOKEN_ROWS=false

Starts ``govtrust serve --demo`` as ``run.py`` does (one worker), then for each scenario
samples the server with ``py-spy record --gil`` (only the thread holding the GIL, i.e. the
Python work that costs CPU) while the load generator drives it (wrk or ``loadgen.py``, as
``run.py`` chooses), and prints, per scenario: the load generator's line (req/s, server CPU
per request), the share of samples per package of the innermost frame, and the heaviest
frames by inclusive and by self samples. Findings and the before/after of each fix are in
``bench/PROFILE.md``. Needs py-spy and the permission to ptrace the server (root, or
``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (
    check_backends,
    drop_databases,
    fresh_backends,
    generator,
    run_loadgen,
    start_govtrust,
)

PACKAGES = (
    "sqlalchemy",
    "psycopg",
    "authlib",
    "starlette",
    "fastapi",
    "uvicorn",
    "anyio",
    "asyncio",
    "threading",
    "queue",
    "logging",
    "json",
    "cryptography",
    "joserfc",
    "prometheus_client",
    "multipart",
    "redis",
    "opentelemetry",
)
FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
# frames every sample has (the event loop, the thread pool, uvicorn's entry): not informative
BORING = re.compile(
    r"click/|runpy|uvicorn/main\.py|core/cli\.py|core/__main__|threading\.py|"
    r"asyncio/runners\.py|uvicorn/server\.py|uvicorn/_compat\.py|_bootstrap"
)


def frame_file(frame: str) -> str:
    match = FRAME.match(frame)
    return match.group("file") if match else frame


def package(frame: str) -> str:
    path = frame_file(frame)
    for name in PACKAGES:
        if f"/{name}/" in f"/{path}" or path.endswith(f"/{name}.py") or path == f"{name}.py":
            return name
    head = path.split("/")[0]
    if head in ("idp", "core", "keys", "seal", "certs", "verify"):
        return f"govtrust {head}/"
    return "other"


def summarise(raw: Path, top: int) -> dict[str, list[tuple[str, float]]]:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        stack, count_text = line.rsplit(" ", 1)
        count = int(count_text)
        total += count
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        own[frames[-1]] += count
        packages[package(frames[-1])] += count
        for frame in set(frames):
            if not BORING.search(frame_file(frame)):
                inclusive[frame] += count
    if not total:
        return {"packages": [], "inclusive": [], "self": []}

    def share(counter: collections.Counter[str], n: int) -> list[tuple[str, float]]:
        return [(name, 100 * value / total) for name, value in counter.most_common(n)]

    return {
        "samples": [("samples", float(total))],
        "packages": share(packages, 12),
        "inclusive": share(inclusive, top),
        "self": share(own, 15),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("embedded", "pg"), default="embedded")
    parser.add_argument("--scenarios", default="client_credentials,introspection,refresh")
    parser.add_argument("--duration", type=float, default=8.0, help="measured s per scenario")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--loadgen",
        choices=("wrk", "httpx"),
        default="wrk",
        help="load generator of client_credentials and introspection (as in run.py)",
    )
    parser.add_argument("--keep-raw", type=Path, help="keep py-spy's collapsed stacks here")
    parser.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every running thread, not only the one holding the GIL (shows where "
        "the thread pool's work waits, e.g. on SQLite's write turn)",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a GOVTRUST_ setting for the server, e.g. CLIENT_CREDENTIALS_TOKEN_ROWS=false "
        "(repeatable)",
    )
    args = parser.parse_args(argv)
    settings = dict(setting.split("=", 1) for setting in args.setting)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy is needed: pip install py-spy")
    scratch = Path(tempfile.mkdtemp(prefix="govtrust-profile-"))
    database = "bench_govtrust_profile"
    extra: dict[str, str] = {}
    if args.backend == "pg":
        check_backends()
        extra = fresh_backends(database, 13)
    extra.update({f"GOVTRUST_{name.upper()}": value for name, value in settings.items()})
    system = start_govtrust("gt", f"govtrust {args.backend}, 1 worker", 1, scratch, extra)
    try:
        system.target_path = scratch / "target.json"
        system.target_path.write_text(json.dumps(system.target), encoding="utf-8")
        for scenario in [s for s in args.scenarios.split(",") if s]:
            raw = (args.keep_raw or scratch) / f"{args.backend}-{scenario}.txt"
            raw.parent.mkdir(parents=True, exist_ok=True)
            sampler = subprocess.Popen(
                [
                    *(
                        spy,
                        "record",
                        *([] if args.all_threads else ["--gil"]),
                        "--nonblocking",
                        "--format",
                        "raw",
                    ),
                    *("--rate", str(args.rate), "--duration", str(int(args.duration + 3))),
                    *("--output", str(raw), "--pid", str(system.process.pid)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
            result = run_loadgen(
                system,
                scenario,
                args.concurrency,
                args.duration,
                2.0,
                generator(scenario, args.loadgen),
            )
            sampler.wait(timeout=args.duration + 60)
            print(f"\n## {args.backend}: {scenario}\n")
            print(
                f"{result.get('rps')} req/s, server CPU {result.get('server_cpu_ms_per_iteration')}"
                f" ms per request, other cores busy {result.get('other_cores')}\n"
            )
            summary = summarise(raw, args.top)
            for title, key in (("package of the innermost frame", "packages"),):
                print(f"{title}: " + ", ".join(f"{n} {v:.0f}%" for n, v in summary[key]))
            print("\ninclusive (frames of the event loop and thread pool left out):")
            for name, value in summary["inclusive"]:
                print(f"  {value:5.1f}%  {name}")
            print("self:")
            for name, value in summary["self"]:
                print(f"  {value:5.1f}%  {name}")
    finally:
        system.stop()
        if args.backend == "pg":
            drop_databases([database])
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
