"""The state-tree benchmark still runs (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import pytest

from zonechain.benchmarks.tree_bench import main


def test_tree_bench_runs_on_a_tiny_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sizes", "300", "--batches", "2", "--batch-size", "50", "--proofs", "5"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|    ")]
    assert len(rows) == 1 and rows[0].split("|")[1].strip() == "300"
