"""Crash tests: kill the process at every store fail-point, reopen, check consistency.

For each fail-point, a child process runs ``run_scenario`` (open a store,
commit blocks 1..5, saving a consensus record before each commit and pruning
the tree after block 3) with ``ZONECHAIN_FAILPOINTS=<name>=exit@<hit>``, and
dies there with exit code 137, as after ``kill -9``. The parent reopens the
directory and checks the guarantee of zonechain.node.store.store: the store
is at the end of a committed block — the expected one — with that block's
root and hash, every record of heights <= last present, nothing of later
heights present, and the current state equal to the fold of blocks <= last.
Then it finishes the scenario in-process, as a restarted node would.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from zonechain.node.failpoints import ENVIRONMENT_VARIABLE, EXIT_CODE, FAILPOINT_NAMES
from zonechain.node.store import BlockCommit, NodeStore, TxLocation

ROOT = Path(__file__).resolve().parents[2]
CHAIN = "crash-test"
FIRST_HEIGHT = 1
LAST_HEIGHT = 5
PRUNE_AFTER_HEIGHT = 3
PRUNE_BELOW_VERSION = 2
TRANSACTIONS_PER_BLOCK = 3
NODES_PER_BLOCK = 2
VOTE_KEY = b"last-signed-vote"


def digest(text: bytes) -> bytes:
    return hashlib.sha256(text).digest()


def tx_hash(height: int, index: int) -> bytes:
    return digest(b"tx %d/%d" % (height, index))


def node_key(version: int, index: int) -> bytes:
    return version.to_bytes(8, "big") + bytes([index])


def state_writes(height: int) -> dict[bytes, bytes | None]:
    """Each block sets its own key, deletes the previous block's, and bumps a counter."""
    writes: dict[bytes, bytes | None] = {
        b"a/%04d" % height: b"set at %d" % height,
        b"counter": b"%d" % height,
    }
    if height > FIRST_HEIGHT:
        writes[b"a/%04d" % (height - 1)] = None
    return writes


def scenario_commit(height: int) -> BlockCommit:
    return BlockCommit(
        height=height,
        block_hash=digest(b"block %d" % height),
        block=b"block %d" % height,
        state_root=digest(b"root %d" % height),
        tx_hashes=tuple(tx_hash(height, i) for i in range(TRANSACTIONS_PER_BLOCK)),
        receipts=tuple(b"receipt %d/%d" % (height, i) for i in range(TRANSACTIONS_PER_BLOCK)),
        state_writes=state_writes(height),
        new_nodes={node_key(height, i): b"node %d/%d" % (height, i)
                   for i in range(NODES_PER_BLOCK)},
        # Block h replaces node (h-1, 0): it is stale since version h.
        stale_nodes=((height, node_key(height - 1, 0)),) if height > FIRST_HEIGHT else (),
        certificate=b"certificate %d" % height,
    )


def expected_state(last: int | None) -> dict[bytes, bytes]:
    state: dict[bytes, bytes] = {}
    for height in range(FIRST_HEIGHT, (last or 0) + 1):
        for key, value in state_writes(height).items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
    return state


def run_scenario(path: str) -> None:
    """Bring the store at ``path`` to LAST_HEIGHT, from wherever it stands."""
    with NodeStore(path, chain_id=CHAIN, initial_height=FIRST_HEIGHT) as store:
        for height in range(store.next_height(), LAST_HEIGHT + 1):
            store.save_consensus(VOTE_KEY, b"%d" % height)  # durable before "sending"
            store.commit_block(scenario_commit(height))
            if height == PRUNE_AFTER_HEIGHT:
                store.prune_tree(PRUNE_BELOW_VERSION)


@dataclass(frozen=True)
class Expectation:
    hit: int
    last_height: int | None
    pruned_below: int
    vote: bytes | None


# Per store fail-point: which pass fires, and where the store must stand after.
EXPECTATIONS: dict[str, Expectation] = {
    "store.open.before_init": Expectation(1, None, 0, None),
    "store.commit.before_batch": Expectation(3, 2, 0, b"3"),
    "store.commit.before_write": Expectation(3, 2, 0, b"3"),
    "store.commit.after_write": Expectation(3, 3, 0, b"3"),
    "store.prune.before_write": Expectation(1, 3, 0, b"3"),
    "store.prune.after_write": Expectation(1, 3, PRUNE_BELOW_VERSION, b"3"),
    "store.consensus.before_write": Expectation(4, 3, PRUNE_BELOW_VERSION, b"3"),
    "store.consensus.after_write": Expectation(4, 3, PRUNE_BELOW_VERSION, b"4"),
}
STORE_FAILPOINTS = tuple(name for name in FAILPOINT_NAMES if name.startswith("store."))

CHILD = (
    "import sys\n"
    "from tests.node.test_store_crash import run_scenario\n"
    "run_scenario(sys.argv[1])\n"
)


def run_child(path: Path, spec: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, **{ENVIRONMENT_VARIABLE: spec})
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], cwd=ROOT, env=environment,
        capture_output=True, text=True, timeout=120, check=False,
    )


def full_state(store: NodeStore) -> dict[bytes, bytes]:
    state: dict[bytes, bytes] = {}
    key = store.next_key(b"", None)
    while key is not None:
        value = store.get(key)
        assert value is not None
        state[key] = value
        key = store.next_key(b"", key)
    return state


def assert_consistent(store: NodeStore, last: int | None, pruned_below: int) -> None:
    """The store stands exactly at the end of block ``last`` (None: nothing committed)."""
    assert store.latest_height() == last
    if last is None:
        assert store.state_root() is None
        assert store.last_block_hash() is None
    else:
        assert store.state_root() == digest(b"root %d" % last)
        assert store.last_block_hash() == digest(b"block %d" % last)
    for height in range(FIRST_HEIGHT, LAST_HEIGHT + 1):
        assert_block(store, height, committed=last is not None and height <= last,
                     pruned_below=pruned_below)
    assert full_state(store) == expected_state(last)
    assert store.tree_pruned_below() == pruned_below


def assert_block(store: NodeStore, height: int, *, committed: bool, pruned_below: int) -> None:
    commit = scenario_commit(height)
    assert (store.load_block(height) == commit.block) is committed
    assert (store.load_block(height) is None) is not committed
    assert (store.block_height(commit.block_hash) == height) is committed
    assert (store.load_certificate(height) == commit.certificate) is committed
    for index, receipt in enumerate(commit.receipts):
        location = store.tx_location(commit.tx_hashes[index])
        assert (location == TxLocation(height, index)) is committed
        assert (store.load_receipt(commit.tx_hashes[index]) == receipt) is committed
    for key, node in commit.new_nodes.items():
        # Node (h, 0) is stale since h + 1; pruned when h + 1 <= pruned_below.
        pruned = key == node_key(height, 0) and height + 1 <= pruned_below
        assert store.get_node(key) == (node if committed and not pruned else None)


def test_every_store_failpoint_has_an_expectation() -> None:
    assert set(STORE_FAILPOINTS) == set(EXPECTATIONS)


def test_scenario_without_failpoints_reaches_the_last_height(tmp_path: Path) -> None:
    run_scenario(str(tmp_path))
    with NodeStore(tmp_path, chain_id=CHAIN) as store:
        assert_consistent(store, LAST_HEIGHT, PRUNE_BELOW_VERSION)
        assert store.load_consensus(VOTE_KEY) == b"%d" % LAST_HEIGHT


@pytest.mark.slow
@pytest.mark.parametrize("name", STORE_FAILPOINTS)
def test_crash_at_failpoint_restarts_at_the_last_committed_height(
    tmp_path: Path, name: str
) -> None:
    expectation = EXPECTATIONS[name]
    result = run_child(tmp_path, f"{name}=exit@{expectation.hit}")
    assert result.returncode == EXIT_CODE, result.stderr
    assert f"fail-point {name}: exit {EXIT_CODE}" in result.stderr

    # A restarted node opens with the same genesis parameters as before the crash.
    with NodeStore(tmp_path, chain_id=CHAIN, initial_height=FIRST_HEIGHT) as store:
        assert_consistent(store, expectation.last_height, expectation.pruned_below)
        assert store.load_consensus(VOTE_KEY) == expectation.vote

    run_scenario(str(tmp_path))  # the restarted node carries on
    with NodeStore(tmp_path, chain_id=CHAIN) as store:
        assert_consistent(store, LAST_HEIGHT, PRUNE_BELOW_VERSION
                          if expectation.last_height is None
                          or expectation.last_height < PRUNE_AFTER_HEIGHT
                          else expectation.pruned_below)
