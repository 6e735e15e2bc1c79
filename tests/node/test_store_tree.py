"""The store as the state tree's node storage (zonechain.node.state).

Blocks of writes go through ``JellyfishMerkleTree.put_batch``; the store keeps
the tree's new nodes and stale index in the block's commit. A tree reading
through a freshly reopened store must find the same roots and proofs as one
over ``MemoryNodeStore``, and ``prune_tree(plan.min_readable_version)`` must
delete exactly the nodes the tree's own pruning plan names.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from zonechain.node.state.memory import MemoryNodeStore
from zonechain.node.state.proof import verify_proof
from zonechain.node.state.pruning import prune
from zonechain.node.state.tree import JellyfishMerkleTree, TreeUpdate
from zonechain.node.store import BlockCommit, NodeStore

CHAIN = "tree-test"
BLOCKS = 6
WINDOW = 2


def writes_of(height: int) -> dict[bytes, bytes | None]:
    writes: dict[bytes, bytes | None] = {
        b"a/%02d" % (height * 7 % 10 + i): b"v%d.%d" % (height, i) for i in range(4)
    }
    if height > 1:
        writes[b"a/%02d" % ((height - 1) * 7 % 10)] = None
    return writes


def commit_of(height: int, update: TreeUpdate, writes: dict[bytes, bytes | None]) -> BlockCommit:
    block = b"block %d" % height
    return BlockCommit(
        height=height, block_hash=hashlib.sha256(block).digest(), block=block,
        state_root=update.root_hash, state_writes=writes,
        new_nodes=update.new_nodes, stale_nodes=update.stale_nodes,
    )


def test_tree_over_the_store_matches_the_tree_over_memory(tmp_path: Path) -> None:
    memory = MemoryNodeStore()
    memory_tree = JellyfishMerkleTree(memory)
    state: dict[bytes, bytes] = {}
    with NodeStore(tmp_path, chain_id=CHAIN) as store:
        store_tree = JellyfishMerkleTree(store)
        for height in range(BLOCKS):
            base = None if height == 0 else height - 1
            writes = writes_of(height)
            update = store_tree.put_batch(height, base, writes)
            assert update == memory_tree.put_batch(height, base, writes)
            memory.apply(update)
            store.commit_block(commit_of(height, update, writes))
            for key, value in writes.items():
                if value is None:
                    state.pop(key, None)
                else:
                    state[key] = value

    with NodeStore(tmp_path, chain_id=CHAIN) as reopened:
        fresh = JellyfishMerkleTree(reopened)  # no cache: every node comes from disk
        for version in range(BLOCKS):
            assert fresh.root_hash(version) == memory_tree.root_hash(version)
        latest = BLOCKS - 1
        assert reopened.state_root() == fresh.root_hash(latest)
        for key in [b"a/%02d" % i for i in range(12)]:
            verify_proof(fresh.root_hash(latest), key, state.get(key),
                         fresh.get_proof(key, latest))

        plan = prune(memory.stale_index, latest_version=latest, window=WINDOW)
        assert plan.node_keys  # the scenario does make nodes stale
        deleted = reopened.prune_tree(plan.min_readable_version)
        assert deleted == len(plan.stale_entries)
        memory.apply_prune(plan)
        assert all(reopened.get_node(key) is None for key in plan.node_keys)
        assert all(reopened.get_node(key) == node for key, node in memory.nodes.items())
        assert reopened.tree_pruned_below() == plan.min_readable_version
        after_prune = JellyfishMerkleTree(reopened, reopened.tree_pruned_below())
        for version in range(plan.min_readable_version, BLOCKS):
            assert after_prune.root_hash(version) == memory_tree.root_hash(version)
