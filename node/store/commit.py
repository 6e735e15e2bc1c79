"""What one committed block writes, checked in full before any of it is written.

``BlockCommit`` carries everything a block changes: the block and its hash,
the commit certificate, the transactions' index entries and receipts, the
state writes with their history entries (history.py: one per written key,
deletions as tombstones), and the state tree's new and stale nodes. ``validate_commit``
checks every field (types, sizes, the height) and raises a ``StoreInputError``
on the first fault; only then does ``write_commit`` put the writes into ONE
RocksDB WriteBatch. So a bad commit writes nothing, and a good one writes
everything at once.

Speed (a block writes ~20,000 entries; validators are CPU-bound): each field
is first checked in one C-level pass (``type(x) is bytes`` over the whole
field, then the min and max length); only when that fast check fails does
the per-item check run, to raise the same error, naming the same item, as it
always did. The fast check accepts nothing the per-item check would refuse
(it is stricter: exact types, plain dicts and tuples), so the outcome is the
same either way. ``write_commit`` puts the entries with ``map`` over whole
columns rather than a generator of tuples, in exactly the order of
``commit_operations`` (the readable reference, kept for tests and
benchmarks), so the batch, and so the write-ahead log record, is the same.

Tree versions are block heights: the tree's nodes for height h are written by
the commit of height h, and a node "stale since h" is no longer part of the
tree at version h or later.

Determinism: the operations come out in the order of the caller's fields
(tuples and insertion-ordered dicts); nothing here depends on hash order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import cycle, repeat
from operator import itemgetter
from typing import Any, Final, Protocol, cast

from zonechain.node.store.errors import StoreHeightError, StoreInputError
from zonechain.node.store.history import history_entries, history_operations
from zonechain.node.store.layout import (
    CF_BLOCK_HASHES,
    CF_BLOCKS,
    CF_COMMITS,
    CF_HISTORY_CHANGES,
    CF_META,
    CF_RECEIPTS,
    CF_STATE,
    CF_STATE_HISTORY,
    CF_TREE_NODES,
    CF_TREE_STALE,
    CF_TX_INDEX,
    HASH_BYTES,
    HEIGHT_MAX,
    KEY_BYTES_MAX,
    META_LAST_BLOCK_HASH,
    META_LAST_HEIGHT,
    META_STATE_ROOT,
    RECORD_BYTES_MAX,
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

TX_INDEX_BYTES: Final = 4
"""The u32 position that follows the height in a ``tx_index`` value (layout.encode_tx_location)."""

_BYTES: Final = frozenset((bytes,))
_BYTES_OR_NONE: Final = frozenset((bytes, type(None)))
_INTS: Final = frozenset((int,))
_TUPLES: Final = frozenset((tuple,))
_VERSION: Final = itemgetter(0)
_NODE_KEY: Final = itemgetter(1)


class BatchWriter(Protocol):
    """What ``write_commit`` needs of a batch (rocksdict's ``WriteBatch``)."""

    def put(self, key: bytes, value: bytes, column_family: Any) -> None: ...

    def delete(self, key: bytes, column_family: Any) -> None: ...


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
    if not (_all_bytes(tx_hashes, HASH_BYTES, HASH_BYTES)
            and _all_bytes(receipts, 1, RECORD_BYTES_MAX)):
        for index, (tx_hash, receipt) in enumerate(zip(tx_hashes, receipts, strict=True)):
            check_hash(tx_hash, f"transaction hash #{index}")
            check_bytes(receipt, f"receipt #{index}", allow_empty=False)
    if len(set(tx_hashes)) != len(tx_hashes):
        raise StoreInputError("the block lists one transaction hash twice")


def _validate_state_writes(state_writes: object) -> None:
    if not isinstance(state_writes, Mapping):
        raise StoreInputError("state_writes must be a mapping of key -> bytes | None")
    if type(state_writes) is dict and _all_bytes(state_writes.keys(), 1, KEY_BYTES_MAX) \
            and _BYTES_OR_NONE.issuperset(map(type, state_writes.values())) \
            and max(map(len, filter(None, state_writes.values())), default=0) <= RECORD_BYTES_MAX:
        return  # filter(None, ...) drops None (and b"", which any limit allows)
    for key, value in state_writes.items():
        check_key(key, "state key")
        if value is not None:
            check_bytes(value, f"state value of {bytes(key[:40]).hex()}")


def _validate_tree(commit: BlockCommit) -> None:
    if not isinstance(commit.new_nodes, Mapping):
        raise StoreInputError("new_nodes must be a mapping of node key -> node bytes")
    new_nodes = commit.new_nodes
    if not (type(new_nodes) is dict and _all_bytes(new_nodes.keys(), 1, KEY_BYTES_MAX)
            and _all_bytes(new_nodes.values(), 1, RECORD_BYTES_MAX)):
        for node_key, node in new_nodes.items():
            check_key(node_key, "tree node key")
            check_bytes(node, f"tree node {bytes(node_key[:40]).hex()}", allow_empty=False)
    if not isinstance(commit.stale_nodes, tuple):
        raise StoreInputError("stale_nodes must be a tuple of (version, node key)")
    if _stale_nodes_fast(commit.stale_nodes, commit.height):
        return
    for entry in commit.stale_nodes:
        if not isinstance(entry, tuple) or len(entry) != 2:
            raise StoreInputError("each stale node must be a (version, node key) pair")
        version = check_height(entry[0], "stale-since version")
        if version > commit.height:
            raise StoreInputError(
                f"node stale since version {version} is beyond block height {commit.height}"
            )
        check_key(entry[1], "stale tree node key")


def _all_bytes(values: Collection[Any], shortest: int, longest: int) -> bool:
    """True only if every item is exactly ``bytes`` of ``shortest``..``longest`` bytes.

    C-level passes over ``values`` (a tuple or dict view); False sends the
    caller to the per-item checks, which raise the precise error (or accept
    an item this refuses, such as a bytes subclass)."""
    if not _BYTES.issuperset(map(type, values)):
        return False
    lengths = set(map(len, values))  # few distinct: cheaper than min() and max() over all
    return not lengths or (min(lengths) >= shortest and max(lengths) <= longest)


def _stale_nodes_fast(stale_nodes: tuple[Any, ...], height: int) -> bool:
    """True only if every entry is a plain (int version <= height, node key) pair."""
    if not stale_nodes:
        return True
    if not (_TUPLES.issuperset(map(type, stale_nodes)) and set(map(len, stale_nodes)) == {2}):
        return False
    # itemgetter, not zip(*stale_nodes): that makes an iterator object per entry, and
    # thousands of short-lived GC-tracked objects set off the cyclic collector.
    if not _INTS.issuperset(map(type, map(_VERSION, stale_nodes))):  # True == 1: types first
        return False
    distinct = set(map(_VERSION, stale_nodes))
    return min(distinct) >= 0 and max(distinct) <= min(height, HEIGHT_MAX) \
        and _all_bytes(list(map(_NODE_KEY, stale_nodes)), 1, KEY_BYTES_MAX)


def write_commit(commit: BlockCommit, batch: BatchWriter, handles: Mapping[str, Any]) -> None:
    """Put the writes of a validated commit into ``batch``: the same operations, in the
    same order, as ``commit_operations`` (``handles``: column family name -> handle)."""
    put = batch.put
    height = commit.height
    height_key = encode_height(height)
    put(height_key, commit.block, handles[CF_BLOCKS])
    put(commit.block_hash, height_key, handles[CF_BLOCK_HASHES])
    if commit.certificate is not None:
        put(height_key, commit.certificate, handles[CF_COMMITS])
    tx_hashes = commit.tx_hashes
    locations = [height_key + index.to_bytes(TX_INDEX_BYTES, "big")
                 for index in range(len(tx_hashes))]
    _put_pairs(put, (tx_hashes, locations, handles[CF_TX_INDEX]),
               (tx_hashes, commit.receipts, handles[CF_RECEIPTS]))
    state_writes = commit.state_writes
    keys = list(state_writes)
    values = list(state_writes.values())
    state = handles[CF_STATE]
    if None in values:
        delete = batch.delete
        for key, value in zip(keys, values, strict=True):
            if value is None:
                delete(key, state)
            else:
                put(key, value, state)
    else:
        _consume(map(put, keys, cast("list[bytes]", values), repeat(state)))  # no None
    entry_keys, entry_values, change_keys = history_entries(height, keys, values)
    _put_pairs(put, (entry_keys, entry_values, handles[CF_STATE_HISTORY]),
               (change_keys, [b""] * len(change_keys), handles[CF_HISTORY_CHANGES]))
    new_nodes = commit.new_nodes
    _consume(map(put, new_nodes.keys(), new_nodes.values(), repeat(handles[CF_TREE_NODES])))
    _consume(map(put, _stale_keys(commit.stale_nodes), repeat(b""),
                 repeat(handles[CF_TREE_STALE])))
    meta = handles[CF_META]
    put(META_LAST_HEIGHT, height_key, meta)
    put(META_LAST_BLOCK_HASH, commit.block_hash, meta)
    put(META_STATE_ROOT, commit.state_root, meta)


def _stale_keys(stale_nodes: tuple[tuple[int, bytes], ...]) -> list[bytes]:
    """``encode_stale_key`` of each entry, each version encoded once (a block's stale
    nodes share a handful of versions)."""
    encoded: dict[int, bytes] = {}
    keys = []
    for version, node_key in stale_nodes:
        prefix = encoded.get(version)
        if prefix is None:
            prefix = encoded[version] = encode_stale_key(version, b"")
        keys.append(prefix + node_key)
    return keys


Column = tuple[Collection[bytes], Collection[bytes], Any]
"""Keys, values (as long as the keys) and the column family handle they go to."""


def _put_pairs(put: Any, first: Column, second: Column) -> None:
    """Put first[0], second[0], first[1], second[1], ...: two columns interleaved."""
    count = len(first[0])
    keys: list[bytes] = [b""] * (2 * count)
    values: list[bytes] = [b""] * (2 * count)
    keys[0::2], values[0::2] = first[0], first[1]
    keys[1::2], values[1::2] = second[0], second[1]
    _consume(map(put, keys, values, cycle((first[2], second[2]))))


def _consume(calls: Iterable[object]) -> None:
    """Run an iterator of calls to the end at C speed (the itertools ``consume`` idiom)."""
    deque(calls, maxlen=0)


def commit_operations(commit: BlockCommit) -> Iterator[Operation]:
    """The writes of a validated commit, meta last (order is irrelevant inside one batch).

    The readable reference for ``write_commit``, which must put exactly these."""
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
