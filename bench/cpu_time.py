"""CPU time of processes on this machine, read from /proc, for the benchmarks' per-call costs."""

from __future__ import annotations

import os


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc; 0 where unavailable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds of every named process."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def postgres_cpu_seconds() -> float:
    """CPU seconds used so far by every process named ``postgres`` on this machine (the server
    and its backends); 0 when PostgreSQL runs elsewhere. Backends that exit meanwhile take
    their time with them, so figures over a phase are a lower bound."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", encoding="ascii") as fh:
                if fh.read().strip() != "postgres":
                    continue
        except OSError:
            continue
        total += cpu_seconds(int(entry))
    return total
