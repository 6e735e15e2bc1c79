"""CPU and memory of processes, read from /proc (Linux).

``sample(pids)`` reads each process's user + system CPU seconds
(/proc/PID/stat fields 14 and 15, in clock ticks) and its resident and peak
resident memory (/proc/PID/status VmRSS, VmHWM). ``usage(before, after)``
turns two samples into CPU seconds, CPU percent of one core over the wall
time between them, and memory. A process that has gone, or a system without
/proc, gives no figures rather than an error: the benchmark still reports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

STAT_UTIME_FIELD: Final = 13
"""Index of utime in /proc/PID/stat after the command field is cut off: (14th field) - 1."""

KIB: Final = 1024


@dataclass(frozen=True)
class ProcessSample:
    pid: int
    wall_s: float
    cpu_s: float
    rss_bytes: int
    peak_rss_bytes: int


def _ticks_per_second() -> int:
    return int(os.sysconf("SC_CLK_TCK"))


def read_process(pid: int, wall_s: float, proc: Path = Path("/proc")) -> ProcessSample | None:
    """One sample of ``pid``, or None if it cannot be read."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        status = (proc / str(pid) / "status").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = int(fields[STAT_UTIME_FIELD - 2]) + int(fields[STAT_UTIME_FIELD - 1])
    memory = {}
    for line in status.splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            memory[name] = int(value.split()[0]) * KIB
    return ProcessSample(pid, wall_s, ticks / _ticks_per_second(), memory.get("VmRSS", 0),
                         memory.get("VmHWM", 0))


def sample(pids: list[int], wall_s: float) -> dict[int, ProcessSample]:
    samples = {pid: read_process(pid, wall_s) for pid in pids}
    return {pid: found for pid, found in samples.items() if found is not None}


def usage(before: dict[int, ProcessSample], after: dict[int, ProcessSample],
          ) -> dict[str, dict[str, float]]:
    """Per pid: CPU seconds and percent of one core between the samples, RSS and peak (MiB)."""
    result: dict[str, dict[str, float]] = {}
    for pid, end in after.items():
        start = before.get(pid)
        if start is None:
            continue
        wall = end.wall_s - start.wall_s
        cpu = end.cpu_s - start.cpu_s
        result[str(pid)] = {
            "cpu_s": cpu,
            "cpu_percent_of_core": 100.0 * cpu / wall if wall > 0 else 0.0,
            "rss_mib": end.rss_bytes / KIB / KIB,
            "peak_rss_mib": end.peak_rss_bytes / KIB / KIB,
        }
    return result
