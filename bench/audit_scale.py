"""How the audit trail's cost grows with its length: an inclusion proof, a consistency proof,
an append and a checkpoint with 10^3, 10^5 and 10^6 entries, on PostgreSQL and on the embedded
SQLite file, from the stored tree nodes (migration 0016) and, beside them, from every leaf
(how proofs were made before: ``merkle.inclusion_proof`` over ``leaf_hashes``).

    .venv/bin/python bench/audit_scale.py      # ~5 minutes; writes its section of RESULTS.md

In process (``AuditTrail`` on its own engine, no HTTP): what is measured is the log's own
work, which an auditor's request to ``/audit/proof/*`` adds to a constant. Before each size
the log is grown with real entries (``canonical_entry`` of an ``AuditEvent``) and their tree
nodes, written with ``COPY`` (PostgreSQL) or ``executemany`` (SQLite); then each operation
runs ``--repeat`` times on random positions and the median and p99 are reported.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from report import fmt, machine, machine_lines, table, write_section
from run import drop_databases
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from core.audit import merkle
from core.audit.checkpoint import Ed25519NoteSigner
from core.audit.entry import AuditEntry, AuditEvent, canonical_entry
from core.audit.storage import AuditEntryRow, AuditTreeNodeRow
from core.audit.trail import AuditTrail
from core.db.engine import make_engine, make_session_factory, transaction
from core.db.migrate import upgrade

DATABASE = "bench_govtrust_audit"
POSTGRES = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}"
SIZES = (1_000, 100_000, 1_000_000)
RECORDED_AT = datetime(2026, 11, 29, tzinfo=UTC)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def event(n: int) -> AuditEvent:
    return AuditEvent(
        actor=f"dept-{n % 7}",
        action="licence.verified" if n % 3 else "seal.used",
        object_type="licence",
        object_id=f"L-{n}",
        details={"n": n},
    )


def grow(engine: Engine, hasher: merkle.TreeHash, tree: merkle.CompactRange, size: int) -> float:
    """Append entries ``tree.size`` to ``size - 1`` and their nodes straight to the tables;
    seconds taken."""
    began = time.perf_counter()
    entries: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    for n in range(tree.size, size):
        data = canonical_entry(AuditEntry(index=n, recorded_at=RECORDED_AT, event=event(n)))
        leaf = hasher.leaf(data)
        entries.append(
            {
                "idx": n,
                "recorded_at": RECORDED_AT,
                "actor": f"dept-{n % 7}",
                "action": "licence.verified" if n % 3 else "seal.used",
                "object_type": "licence",
                "object_id": f"L-{n}",
                "entry": data,
                "leaf_hash": leaf,
            }
        )
        for node, value in tree.append(leaf):
            nodes.append(
                {"last_leaf": merkle.append_order(node)[0], "level": node[0], "hash": value}
            )
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            for table_name, rows in (("audit_entries", entries), ("audit_tree_nodes", nodes)):
                if not rows:
                    continue
                columns = list(rows[0])
                with cursor.copy(  # type: ignore[attr-defined]
                    f"COPY {table_name} ({', '.join(columns)}) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row([row[c] for c in columns])
            raw.commit()
            cursor.execute("ANALYZE audit_entries")
            cursor.execute("ANALYZE audit_tree_nodes")
            raw.commit()
        finally:
            raw.close()
    else:
        with engine.begin() as connection:
            for start in range(0, len(entries), 50_000):
                connection.execute(insert(AuditEntryRow), entries[start : start + 50_000])
            for start in range(0, len(nodes), 50_000):
                connection.execute(insert(AuditTreeNodeRow), nodes[start : start + 50_000])
    return time.perf_counter() - began


def timed(repeat: int, operation: Callable[[int], object]) -> tuple[float, float]:
    """(median, p99) milliseconds of ``operation(i)`` for i in range(repeat)."""
    samples = []
    for i in range(repeat):
        began = time.perf_counter()
        operation(i)
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def measure(
    trail: AuditTrail, engine: Engine, size: int, repeat: int, rng: random.Random
) -> dict[str, tuple[float, float]]:
    sessions = make_session_factory(engine)
    hasher = trail.hasher
    results: dict[str, tuple[float, float]] = {}
    with transaction(sessions) as session:
        trail.checkpoint(session)  # the first checkpoint at this size: not measured
    indexes = [rng.randrange(size) for _ in range(repeat)]
    firsts = [rng.randrange(1, size) for _ in range(repeat)]

    def inclusion(i: int) -> None:
        with sessions() as session:
            proof = trail.inclusion_proof(session, indexes[i], size)
        assert len(proof.path) <= size.bit_length()

    def consistency(i: int) -> None:
        with sessions() as session:
            trail.consistency_proof(session, firsts[i], size)

    results["inclusion proof"] = timed(repeat, inclusion)
    results["consistency proof"] = timed(repeat, consistency)

    def from_leaves(i: int) -> None:
        with sessions() as session:
            leaves = trail.store.leaf_hashes(session, size)
        merkle.inclusion_proof(indexes[i], leaves, hasher)

    results["inclusion proof from every leaf (before)"] = timed(max(3, repeat // 20), from_leaves)

    def append(i: int) -> None:
        with transaction(sessions) as session:
            trail.record(session, event(size + i))

    results["append (entry and its nodes)"] = timed(repeat, append)

    def checkpoint_after_ten(i: int) -> None:
        with transaction(sessions) as session:
            for n in range(10):
                trail.record(session, event(n))
        began = time.perf_counter()
        with transaction(sessions) as session:
            trail.checkpoint(session)
        checkpoint_times.append((time.perf_counter() - began) * 1000)

    checkpoint_times: list[float] = []
    for i in range(max(5, repeat // 10)):
        checkpoint_after_ten(i)
    checkpoint_times.sort()
    results["checkpoint 10 entries after the last"] = (
        statistics.median(checkpoint_times),
        checkpoint_times[-1],
    )
    return results


def run_backend(
    name: str, url: str, sizes: list[int], repeat: int, rng: random.Random
) -> tuple[dict[int, dict[str, tuple[float, float]]], dict[int, float]]:
    engine = make_engine(url)
    upgrade(engine)
    signer = Ed25519NoteSigner("govtrust.bench/audit", Ed25519PrivateKey.generate())
    trail = AuditTrail(signer=signer, origin=signer.name)
    tree = merkle.CompactRange(trail.hasher)
    results: dict[int, dict[str, tuple[float, float]]] = {}
    fill: dict[int, float] = {}
    try:
        for size in sizes:
            # the log also holds what the previous size's appends and checkpoints added
            sessions = make_session_factory(engine)
            with sessions() as session:
                have = trail.store.size(session)
            if have:
                with sessions() as session:
                    frontier = merkle.perfect_subtrees(0, have)
                    found = trail.store.nodes(session, frontier)
                tree = merkle.CompactRange.from_state(
                    have, [found[n] for n in frontier], trail.hasher
                )
            log(f"{name}: growing the log to {size:,} entries")
            fill[size] = grow(engine, trail.hasher, tree, size)
            results[size] = measure(trail, engine, size, repeat, rng)
            for operation, (p50, p99) in results[size].items():
                log(f"{name} {size:,} {operation}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    finally:
        engine.dispose()
    return results, fill


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--sizes", default=",".join(str(size) for size in SIZES))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    facts = machine()
    rng = random.Random(9162)
    sizes = [int(size) for size in args.sizes.split(",")]
    results: dict[str, dict[int, dict[str, tuple[float, float]]]] = {}
    fills: dict[str, dict[int, float]] = {}
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        db.execute(f"CREATE DATABASE {DATABASE}")
    try:
        results["PostgreSQL"], fills["PostgreSQL"] = run_backend(
            "PostgreSQL", POSTGRES, sizes, args.repeat, rng
        )
    finally:
        drop_databases([DATABASE])
    with tempfile.TemporaryDirectory(prefix="govtrust-bench-audit-") as scratch:
        url = f"sqlite:///{scratch}/govtrust.db"
        results["SQLite"], fills["SQLite"] = run_backend("SQLite", url, sizes, args.repeat, rng)
    report = render(facts, args, results, fills)
    if args.no_write:
        print(report)
    else:
        write_section("audit_scale", report)
    return 0


def render(
    facts: dict[str, str],
    args: argparse.Namespace,
    results: dict[str, dict[int, dict[str, tuple[float, float]]]],
    fills: dict[str, dict[int, float]],
) -> str:
    lines = [
        "## How the audit trail's cost grows with its length",
        "",
        *machine_lines(facts),
        f"- Command: `.venv/bin/python bench/audit_scale.py --repeat {args.repeat} --sizes "
        f"{args.sizes}` (load "
        f"average at the start: {facts['loadavg']}); in process, one thread, milliseconds.",
        "",
    ]
    rows = []
    for backend, sizes in results.items():
        for size, operations in sizes.items():
            for operation, (p50, p99) in operations.items():
                rows.append([backend, f"{size:,}", operation, fmt(p50, 2), fmt(p99, 2)])
    lines += table(["backend", "entries", "operation", "p50 ms", "p99 ms"], rows)
    lines += [
        "",
        "Entries and their tree nodes were written straight to the tables ("
        + "; ".join(
            f"{backend}: " + ", ".join(f"{size:,} in {s:.0f} s" for size, s in fill.items())
            for backend, fill in fills.items()
        )
        + "). A proof reads at most log2(n) ranges of log2(n) stored nodes by primary key, "
        "so it should stay near flat; the rows *from every leaf* are what each public proof "
        "request cost before the nodes were kept, and about what each checkpoint cost then "
        "while holding the append lock (it rehashed every leaf).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
