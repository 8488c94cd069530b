"""A network partition on loopback: every packet to or from some TCP ports dropped, either
way (``iptables`` rules on ``lo``), so that neither end of a connection hears from the other
and what either sends is never acknowledged, as across a cut network. The ports' own
connections only: the rest of the machine's loopback traffic goes on.

Needs root and iptables: without them the test is skipped, or fails in CI (``CI=true`` or
``GOVTRUST_TEST_REQUIRE_REAL_BACKENDS=1``), where a skipped partition would hide a gap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pytest

REQUIRED = (
    os.environ.get("CI") == "true" or os.environ.get("GOVTRUST_TEST_REQUIRE_REAL_BACKENDS") == "1"
)


def iptables() -> str:
    """The iptables command, if this process may change the rules; else skip (fail in CI)."""
    found = shutil.which("iptables")
    if found is not None and os.geteuid() == 0:
        listed = subprocess.run([found, "-L", "INPUT", "-n"], capture_output=True, check=False)
        if listed.returncode == 0:
            return found
    reason = "a network partition needs root and iptables"
    if REQUIRED:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


@contextmanager
def packets_dropped(ports: Iterable[int]) -> Iterator[None]:
    """While inside: every TCP packet on loopback to or from ``ports`` dropped."""
    command = iptables()
    rules: list[list[str]] = []
    try:
        for port in ports:
            for direction in ("--dport", "--sport"):
                rule = ["INPUT", "-i", "lo", "-p", "tcp", direction, str(port), "-j", "DROP"]
                subprocess.run([command, "-I", *rule], check=True)
                rules.append(rule)
        yield
    finally:
        for rule in reversed(rules):
            subprocess.run([command, "-D", *rule], check=True)
