"""Crash tests: kill a ledger at each store fail-point on its path, restart, continue.

A child process runs the deterministic scenario (tests/node/fixtures/scenario.py)
with ``ZONECHAIN_FAILPOINTS=<name>=exit@<hit>`` and dies there (exit 137, as
after ``kill -9``). The parent reopens the directory: the ledger must be at
the last height whose commit reached the disk, with that height's root and
hash (equal to an uncrashed run), and the chain must then continue to the
same roots as the uncrashed run.

Commit passes: the genesis commit is pass 1 and block h is pass h + 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.node.fixtures.scenario import run as run_scenario
from tests.node.fixtures.scenario import run_in_child
from zonechain.node.failpoints import EXIT_CODE, FAILPOINT_NAMES

BLOCKS = 5

# (fail-point, hit, last height on disk after the crash; -1: not even genesis)
CASES = [
    ("store.open.before_init", 1, -1),
    ("store.commit.before_batch", 1, -1),
    ("store.commit.before_write", 1, -1),
    ("store.commit.after_write", 1, 0),
    ("store.commit.before_batch", 3, 1),
    ("store.commit.before_write", 3, 1),
    ("store.commit.after_write", 3, 2),
    ("store.commit.after_write", BLOCKS + 1, BLOCKS),
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[int, str, str]]:
    return run_scenario(str(tmp_path_factory.mktemp("reference") / "db"), BLOCKS)


def test_cases_name_real_failpoints() -> None:
    assert {name for name, _, _ in CASES} <= set(FAILPOINT_NAMES)


@pytest.mark.slow
@pytest.mark.parametrize(("failpoint", "hit", "last_height"), CASES)
def test_crash_then_restart_continues_identically(
        tmp_path: Path, reference: list[tuple[int, str, str]], failpoint: str, hit: int,
        last_height: int) -> None:
    path = tmp_path / "db"
    child = run_in_child(path, BLOCKS, f"{failpoint}=exit@{hit}")
    assert child.returncode == EXIT_CODE, child.stderr
    assert failpoint in child.stderr
    # Reopen without applying anything: the tip must be the last durable height.
    recovered = run_scenario(str(path), 0)
    if last_height < 0:
        assert recovered == reference[:1]  # genesis was (re)created on reopen
    else:
        assert recovered == reference[: last_height + 1]
    assert run_scenario(str(path), BLOCKS) == reference
