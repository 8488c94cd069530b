"""What issue 9's second target leaves a client-credentials token, and where it goes.

The target: issuance on two workers at no less than 25 % of one core's ES256 signing rate.
On a machine of ``cores`` cores that is ``0.25 × sign`` tokens/s, so every token may cost
the whole machine at most ``cores / (0.25 × sign)`` of CPU: the server's, the database's
and the load generator's, which all run on the same cores here. This divides each system's
measured machine CPU per token into those three parts (the median of its runs), beside the
costs no implementation on uvicorn can avoid: one signature (``1 / sign``) and the Python
floor's server CPU per request (a bare ASGI app answering a constant body).

Run on its own, it reads a results file written by ``run.py``::

    python bench/budget.py bench/results/idp.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from report import fmt, median, table

SHARE = 0.25


def _micros(runs: list[dict[str, Any]], cores_field: str) -> float | None:
    """Median over the runs of ``cores_field`` cores ÷ tokens/s, in µs per token."""
    return median(
        1e6 * r[cores_field] / r["rps"] for r in runs if r.get(cores_field) is not None and r["rps"]
    )


def budget_lines(
    rounds: list[dict[str, dict[str, Any]]],
    labels: dict[str, str],
    sign: float,
    cores: int,
    floor: list[dict[str, Any]],
) -> list[str]:
    """The section's lines: a table of machine CPU per token against the budget."""
    if not rounds or not sign:
        return []
    budget = 1e6 * cores / (SHARE * sign)
    signature = 1e6 / sign
    floor_us = median(1e3 * r["server_cpu_ms_per_iteration"] for r in floor if r.get("rps"))
    rows = []
    for key, label in labels.items():
        runs = [by[key] for by in rounds if key in by and by[key].get("rps")]
        if not runs:
            continue
        total = _micros(runs, "machine_cores")
        rows.append(
            [
                label,
                fmt(median(r["rps"] for r in runs)),
                fmt(median(1e3 * r["server_cpu_ms_per_iteration"] for r in runs)),
                fmt(_micros(runs, "other_cores")),
                fmt(_micros(runs, "loadgen_cores")),
                fmt(total),
                f"{total / budget:.2f}×" if total else "-",
                fmt(median(r.get("machine_cores") for r in runs), 2),
            ]
        )
    lines = [
        f"### What {SHARE:.0%} of the signing rate leaves a token",
        "",
        f"{SHARE:.0%} of one core's ES256 rate is {fmt(SHARE * sign)} tokens/s. On this "
        f"machine's {cores} cores, which the server, the database and the load generator "
        f"share, that leaves every token **{fmt(budget)} µs of machine CPU** for all three. "
        f"Costs no Python implementation avoids, measured in the same run: the signature, "
        f"{fmt(signature)} µs (one core's rate), and the Python floor, "
        f"{fmt(floor_us)} µs of server CPU per request (a bare ASGI app on uvicorn answering a "
        "constant body, above). Machine CPU per token, µs (median of the runs; *database and "
        "other*: CPU neither the server's nor the load generator's, mostly PostgreSQL's on "
        "the PostgreSQL rows, plus whatever else the shared machine ran):",
        "",
    ]
    lines += table(
        [
            "system",
            "tokens/s",
            "server",
            "database and other",
            "load generator",
            "machine, in all",
            "÷ budget",
            "machine cores busy",
        ],
        rows,
    )
    return [*lines, ""]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python bench/budget.py RESULTS_JSON", file=sys.stderr)
        return 2
    results = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    rounds = results["rounds"].get("client_credentials", [])
    keys = sorted({key for by in rounds for key in by})
    limits = results["es256"]
    sign = median(limit["sign_per_s"] for limit in limits) or 0.0
    cores = int(results["machine"]["nproc"])
    print(
        "\n".join(budget_lines(rounds, {k: k for k in keys}, sign, cores, results["python_floor"]))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
