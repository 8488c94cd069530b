"""bench/budget.py: the machine CPU a token may cost at issue 9's 25 % target, and what each
system's runs cost, from the numbers run.py records."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from budget import budget_lines


def run(
    rps: float, server_ms: float, machine: float, loadgen: float, other: float
) -> dict[str, Any]:
    return {
        "rps": rps,
        "server_cpu_ms_per_iteration": server_ms,
        "machine_cores": machine,
        "loadgen_cores": loadgen,
        "other_cores": other,
    }


def row(lines: list[str], label: str) -> list[str]:
    found = [line for line in lines if line.startswith(f"| {label} |")]
    assert len(found) == 1, lines
    return [cell.strip() for cell in found[0].strip("|").split("|")]


def test_the_budget_is_the_machine_s_cores_over_a_quarter_of_the_signing_rate() -> None:
    rounds = [
        {"a": run(5000, 0.3, 2.0, 0.1, 0.4), "b": run(10000, 0.15, 1.8, 0.2, 0.0)},
        {"a": run(4000, 0.3, 2.0, 0.1, 0.4), "b": run(0, 0.0, 0.0, 0.0, 0.0)},  # b failed
        {"a": run(5000, 0.3, 2.0, 0.1, 0.4)},
    ]
    floor = [{"rps": 25000, "server_cpu_ms_per_iteration": 0.04}]
    lines = budget_lines(rounds, {"a": "A", "b": "B", "c": "C"}, 40000.0, 2, floor)

    text = "\n".join(lines)
    assert "10,000 tokens/s" in text and "**200 µs of machine CPU**" in text
    assert "the signature, 25.0 µs" in text and "40.0 µs of server CPU per request" in text
    # median over a's runs: 2 cores / 5,000 tokens/s = 400 µs, twice the budget
    assert row(lines, "A") == ["A", "5,000", "300", "80.0", "20.0", "400", "2.00×", "2.00"]
    # b's failed run is left out; a system with no runs has no row
    assert row(lines, "B") == ["B", "10,000", "150", "0.0", "20.0", "180", "0.90×", "1.80"]
    assert not [line for line in lines if line.startswith("| C |")]


def test_nothing_without_rounds_or_a_signing_rate() -> None:
    assert budget_lines([], {"a": "A"}, 40000.0, 2, []) == []
    assert budget_lines([{"a": run(1, 1, 1, 1, 1)}], {"a": "A"}, 0.0, 2, []) == []
