"""What one committed block writes, checked in full before any of it is written.

``BlockCommit`` carries everything a block changes: the block and its hash,
the commit certificate, the transactions' index entries and receipts, the
state writes with their history entries (history.py: one per written key,
deletions as tombstones), and the state tree's new and stale nodes. ``validate_commit``
checks every field (types, sizes, the height) and raises a ``StoreInputError``
on the first fault; only then does ``commit_operations`` list the writes that
the store puts into ONE RocksDB WriteBatch. So a bad commit writes nothing,
and a good one writes everything at once.

Tree versions are block heights: the tree's nodes for height h are written by
the commit of height h, and a node "stale since h" is no longer part of the
tree at version h or later.

Determinism: the operations come out in the order of the caller's fields
(tuples and insertion-ordered dicts); nothing here depends on hash order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from zonechain.node.store.errors import StoreHeightError, StoreInputError
from zonechain.node.store.history import history_operations
from zonechain.node.store.layout import (
    CF_BLOCK_HASHES,
    CF_BLOCKS,
    CF_COMMITS,
    CF_META,
    CF_RECEIPTS,
    CF_STATE,
    CF_TREE_NODES,
    CF_TREE_STALE,
    CF_TX_INDEX,
    META_LAST_BLOCK_HASH,
    META_LAST_HEIGHT,
    META_STATE_ROOT,
    TX_INDEX_MAX,
    TxLocation,
    check_bytes,
    check_hash,
    check_height,
    check_key,
    encode_height,
    encode_stale_key,
    encode_tx_location,
)

Operation = tuple[str, bytes, bytes | None]
"""(column family, key, value); value None deletes the key."""


@dataclass(frozen=True)
class BlockCommit:
    """Everything block ``height`` writes; the store applies it atomically or not at all.

    ``receipts[i]`` is the receipt of the transaction whose hash is
    ``tx_hashes[i]``, the i-th transaction of the block. ``state_writes`` maps a
    state key to its new value, None deleting it. ``new_nodes`` and
    ``stale_nodes`` come from the state tree for this version (= height).

    The store does not look for a transaction hash in earlier blocks (that
    would cost a read per transaction): keeping a transaction out of two
    blocks is the executor's job (nonces); a repeat would re-point its index.
    """

    height: int
    block_hash: bytes
    block: bytes
    state_root: bytes
    tx_hashes: tuple[bytes, ...] = ()
    receipts: tuple[bytes, ...] = ()
    state_writes: Mapping[bytes, bytes | None] = field(default_factory=dict)
    new_nodes: Mapping[bytes, bytes] = field(default_factory=dict)
    stale_nodes: tuple[tuple[int, bytes], ...] = ()
    certificate: bytes | None = None


def validate_commit(commit: object, expected_height: int) -> BlockCommit:
    """``commit`` if it is well formed and at ``expected_height``; StoreInputError otherwise."""
    if not isinstance(commit, BlockCommit):
        raise StoreInputError(f"commit must be a BlockCommit, got {type(commit).__name__}")
    height = commit.height
    if isinstance(height, bool) or not isinstance(height, int):
        raise StoreInputError(f"block height must be an int, got {type(height).__name__}")
    if height != expected_height:
        raise StoreHeightError(
            f"block height {height} is not the next height {expected_height}"
        )
    check_hash(commit.block_hash, "block hash")
    check_bytes(commit.block, "block", allow_empty=False)
    check_hash(commit.state_root, "state root")
    if commit.certificate is not None:
        check_bytes(commit.certificate, "certificate", allow_empty=False)
    _validate_transactions(commit)
    _validate_state_writes(commit.state_writes)
    _validate_tree(commit)
    return commit


def _validate_transactions(commit: BlockCommit) -> None:
    tx_hashes, receipts = commit.tx_hashes, commit.receipts
    if not isinstance(tx_hashes, tuple) or not isinstance(receipts, tuple):
        raise StoreInputError("tx_hashes and receipts must be tuples")
    if len(tx_hashes) != len(receipts):
        raise StoreInputError(
            f"{len(tx_hashes)} transaction hashes but {len(receipts)} receipts"
        )
    if len(tx_hashes) > TX_INDEX_MAX + 1:
        raise StoreInputError(f"{len(tx_hashes)} transactions do not fit a u32 index")
    for index, (tx_hash, receipt) in enumerate(zip(tx_hashes, receipts, strict=True)):
        check_hash(tx_hash, f"transaction hash #{index}")
        check_bytes(receipt, f"receipt #{index}", allow_empty=False)
    if len(set(tx_hashes)) != len(tx_hashes):
        raise StoreInputError("the block lists one transaction hash twice")


def _validate_state_writes(state_writes: object) -> None:
    if not isinstance(state_writes, Mapping):
        raise StoreInputError("state_writes must be a mapping of key -> bytes | None")
    for key, value in state_writes.items():
        check_key(key, "state key")
        if value is not None:
            check_bytes(value, f"state value of {bytes(key[:40]).hex()}")


def _validate_tree(commit: BlockCommit) -> None:
    if not isinstance(commit.new_nodes, Mapping):
        raise StoreInputError("new_nodes must be a mapping of node key -> node bytes")
    for node_key, node in commit.new_nodes.items():
        check_key(node_key, "tree node key")
        check_bytes(node, f"tree node {bytes(node_key[:40]).hex()}", allow_empty=False)
    if not isinstance(commit.stale_nodes, tuple):
        raise StoreInputError("stale_nodes must be a tuple of (version, node key)")
    for entry in commit.stale_nodes:
        if not isinstance(entry, tuple) or len(entry) != 2:
            raise StoreInputError("each stale node must be a (version, node key) pair")
        version = check_height(entry[0], "stale-since version")
        if version > commit.height:
            raise StoreInputError(
                f"node stale since version {version} is beyond block height {commit.height}"
            )
        check_key(entry[1], "stale tree node key")


def commit_operations(commit: BlockCommit) -> Iterator[Operation]:
    """The writes of a validated commit, meta last (order is irrelevant inside one batch)."""
    height_key = encode_height(commit.height)
    yield CF_BLOCKS, height_key, commit.block
    yield CF_BLOCK_HASHES, commit.block_hash, height_key
    if commit.certificate is not None:
        yield CF_COMMITS, height_key, commit.certificate
    for index, (tx_hash, receipt) in enumerate(zip(commit.tx_hashes, commit.receipts,
                                                   strict=True)):
        yield CF_TX_INDEX, tx_hash, encode_tx_location(TxLocation(commit.height, index))
        yield CF_RECEIPTS, tx_hash, receipt
    for key, value in commit.state_writes.items():
        yield CF_STATE, key, value
    yield from history_operations(commit.height, commit.state_writes)
    for node_key, node in commit.new_nodes.items():
        yield CF_TREE_NODES, node_key, node
    for version, node_key in commit.stale_nodes:
        yield CF_TREE_STALE, encode_stale_key(version, node_key), b""
    yield CF_META, META_LAST_HEIGHT, height_key
    yield CF_META, META_LAST_BLOCK_HASH, commit.block_hash
    yield CF_META, META_STATE_ROOT, commit.state_root
