"""A dict-backed node store for tests and the in-process contract harness.

It applies ``TreeUpdate``s and ``PrunePlan``s exactly as the RocksDB store
must: new nodes and stale-index entries are added together; pruning deletes
the planned nodes and their index entries together. It keeps nothing on disk.
"""

from __future__ import annotations

from zonechain.node.state.pruning import PrunePlan
from zonechain.node.state.tree import TreeUpdate


class MemoryNodeStore:
    """``TreeNodeReader`` over a dict, plus the stale-node index."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}
        self.stale_index: set[tuple[int, bytes]] = set()
        self.latest_version: int | None = None

    def get_node(self, node_key: bytes) -> bytes | None:
        return self.nodes.get(node_key)

    def apply(self, update: TreeUpdate) -> None:
        self.nodes.update(update.new_nodes)
        self.stale_index.update(update.stale_nodes)
        self.latest_version = update.version

    def apply_prune(self, plan: PrunePlan) -> None:
        for node_key in plan.node_keys:
            self.nodes.pop(node_key, None)
        self.stale_index.difference_update(plan.stale_entries)
