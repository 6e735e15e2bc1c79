"""Full nodes: they follow a running network by block sync, and survive a backup/restore.

One devnet of 2 validators and 1 full node written by ``init --full-nodes 1``
(real processes), plus one full node written later by ``add-full-node``
(the validators do not list it as a peer: it dials them). Both full nodes
start only after the validators committed ``LATE_BLOCKS`` blocks, catch up
(verifying each block's certificate), serve client queries, and agree with
both validators on every block hash (hence every state root: the header of
block h + 1 commits the state after h). Then the documented backup path
(docs/OPERATIONS.md, "Backup and restore"): stop the node, copy its data
directory, let the chain move on, restore the copy, start: it catches up and
agrees again.

Marked slow (multi-process); every wait polls with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.node.test_node_support import FAST_TIMEOUTS
from zonechain.node.node_cli import LOG_FILE, Devnet, find_base_port
from zonechain.sdk import Client

pytestmark = pytest.mark.slow

VALIDATORS = 2
FULL_NODE = VALIDATORS  # index of the full node in devnet.nodes
LATE_BLOCKS = 50
RESTORE_GAP_BLOCKS = 15
WAIT_S = 90.0
CALL_TIMEOUT_S = 10.0


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    network = Devnet(tmp_path / "net", VALIDATORS, full_nodes=1, reset=True,
                     timeouts=FAST_TIMEOUTS, base_port=find_base_port(VALIDATORS + 1))
    network.prepare()
    try:
        yield network
    finally:
        network.stop()


def chain(endpoint: str, last: int) -> list[tuple[bytes, bytes]]:
    """(block hash, last_state_root) for heights 1..last, as one node serves them (SDK)."""
    seen = []
    with Client(endpoint, timeout_s=CALL_TIMEOUT_S) as client:
        for height in range(1, last + 1):
            info = client.get_block(height)
            assert info is not None and info.commit is not None, (endpoint, height)
            assert info.commit.block_hash == info.block.hash, (endpoint, height)
            seen.append((info.block.hash, info.block.header.last_state_root))
    return seen


def assert_full_node_agrees(devnet: Devnet) -> int:
    heights = devnet.heights()
    assert all(height is not None for height in heights), heights
    common = min(height for height in heights if height is not None)
    reference = chain(devnet.nodes[0].client, common)
    for index in range(1, len(devnet.nodes)):
        assert chain(devnet.nodes[index].client, common) == reference, devnet.nodes[index]
    return common


def metrics_of(devnet: Devnet, index: int) -> dict[str, int]:
    url = f"http://{devnet.nodes[index].metrics}/metrics"
    with urllib.request.urlopen(url, timeout=CALL_TIMEOUT_S) as answer:
        text = answer.read().decode("utf-8")
    return {name: int(value) for name, value in
            (line.split() for line in text.splitlines() if line and not line.startswith("#"))}


def logged_heights(devnet: Devnet, index: int, event: str) -> list[int]:
    """The ``height`` of every ``event`` line in the node's log, in order."""
    text = (devnet.nodes[index].home / LOG_FILE).read_text(encoding="utf-8")
    heights = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("event") == event:
                heights.append(int(record["height"]))
    return heights


def validators_height(devnet: Devnet) -> int:
    heights = devnet.heights()[:VALIDATORS]
    assert all(height is not None for height in heights), heights
    return max(height for height in heights if height is not None)


def test_late_full_node_catches_up_agrees_and_restores_from_backup(devnet: Devnet) -> None:
    assert len(devnet.nodes) == VALIDATORS + 1
    for index in range(VALIDATORS):
        devnet.start_node(index)
    devnet.wait_for_height(LATE_BLOCKS, WAIT_S, nodes=list(range(VALIDATORS)))

    added = devnet.add_full_node()
    assert devnet.nodes[added].node_id == f"node{VALIDATORS + 1}"
    followers = [FULL_NODE, added]
    for index in followers:
        devnet.start_node(index)
    devnet.wait_for_height(validators_height(devnet) + 2, WAIT_S, nodes=followers)
    for index in followers:
        status = devnet.status(index)
        assert status is not None and status.validator == b""  # it does not vote
        metrics = metrics_of(devnet, index)
        assert metrics["zonechain_validator"] == 0
        assert metrics["zonechain_blocks_synced_total"] > 0
    assert assert_full_node_agrees(devnet) >= LATE_BLOCKS

    # Backup: stop the node (clean exit), copy its RocksDB directory.
    data = devnet.nodes[FULL_NODE].home / "data"
    assert devnet.terminate(FULL_NODE) == 0
    backup = data.parent.parent / "node-backup"
    shutil.copytree(data, backup)
    backed_up = validators_height(devnet)
    stopped_at = logged_heights(devnet, FULL_NODE, "node_stopped")[-1]
    assert stopped_at >= LATE_BLOCKS

    # The chain moves on; the node's directory is lost; restore the copy and start.
    devnet.wait_for_height(backed_up + RESTORE_GAP_BLOCKS, WAIT_S,
                           nodes=list(range(VALIDATORS)))
    shutil.rmtree(data)
    shutil.copytree(backup, data)
    devnet.start_node(FULL_NODE)
    devnet.wait_for_height(validators_height(devnet), WAIT_S, nodes=[FULL_NODE])
    # It opened the backup (not an empty store) and caught up from there.
    assert logged_heights(devnet, FULL_NODE, "node_started")[-1] == stopped_at
    assert assert_full_node_agrees(devnet) >= backed_up + RESTORE_GAP_BLOCKS
