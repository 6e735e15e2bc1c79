"""Durable storage of a node: blocks, receipts, current state, state-tree nodes, consensus records.

``NodeStore`` (store.py) writes each block in one atomic, synced RocksDB batch,
so a crash at any instant restarts at the last committed height with its
state root. ``BlockCommit`` (commit.py) is what one block writes; layout.py
fixes the column families and key encodings; history.py keeps every state
key's value at every height (``NodeStore.state_at``); errors.py draws the
error tree.
"""

from zonechain.node.store.commit import BlockCommit
from zonechain.node.store.errors import (
    StoreChainMismatch,
    StoreClosed,
    StoreCorrupt,
    StoreError,
    StoreHeightError,
    StoreInputError,
    StoreIOError,
    StoreLocked,
    StoreNotZonechain,
    StoreVersionError,
)
from zonechain.node.store.layout import SCHEMA_VERSION, TxLocation
from zonechain.node.store.store import NodeStore, StateAt, TreePruneStep

__all__ = [
    "SCHEMA_VERSION",
    "BlockCommit",
    "NodeStore",
    "StateAt",
    "StoreChainMismatch",
    "StoreClosed",
    "StoreCorrupt",
    "StoreError",
    "StoreHeightError",
    "StoreIOError",
    "StoreInputError",
    "StoreLocked",
    "StoreNotZonechain",
    "StoreVersionError",
    "TreePruneStep",
    "TxLocation",
]
