"""CPU time from Linux ``/proc``: of given processes, and of the whole machine (both load
generators measure the server and the machine with these)."""

from __future__ import annotations

import os


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes, in seconds (a process gone is skipped)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy since boot (/proc/stat: everything but idle, iowait)."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(value) for value in handle.readline().split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")
