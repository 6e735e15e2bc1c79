"""/proc readings (benchmarks/bench/resources.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zonechain.benchmarks.bench.resources import ProcessSample, read_process, sample, usage

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def test_own_process_has_memory_and_cpu() -> None:
    found = read_process(os.getpid(), 0.0)
    assert found is not None
    assert found.rss_bytes > 1_000_000 and found.peak_rss_bytes >= found.rss_bytes
    assert found.cpu_s > 0


def test_command_names_with_spaces_and_parentheses(tmp_path: Path) -> None:
    process = tmp_path / "42"
    process.mkdir()
    fields = ["S"] + ["0"] * 10 + ["250", "150"] + ["0"] * 30  # utime, stime = fields 14, 15
    (process / "stat").write_text("42 (odd) name) " + " ".join(fields) + "\n")
    (process / "status").write_text("Name:\todd\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n")
    found = read_process(42, 1.0, proc=tmp_path)
    ticks = os.sysconf("SC_CLK_TCK")
    assert found == ProcessSample(42, 1.0, 400 / ticks, 1024 * 1024, 2048 * 1024)


def test_missing_processes_give_no_figures(tmp_path: Path) -> None:
    assert read_process(12345, 0.0, proc=tmp_path) is None
    assert sample([2**22 + 7], 0.0) == {}  # above the default pid_max: never a process


def test_usage_between_samples() -> None:
    before = {7: ProcessSample(7, 10.0, 1.0, 0, 0)}
    after = {7: ProcessSample(7, 12.0, 2.5, 3 * 1024 * 1024, 4 * 1024 * 1024),
             8: ProcessSample(8, 12.0, 9.0, 0, 0)}  # 8 appeared: no figures
    assert usage(before, after) == {"7": {"cpu_s": 1.5, "cpu_percent_of_core": 75.0,
                                          "rss_mib": 3.0, "peak_rss_mib": 4.0}}
