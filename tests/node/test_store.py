"""NodeStore: every read and write, the typed errors at each door, and nothing half-written."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from zonechain.node.failpoints import FailpointTriggered, configure, reset
from zonechain.node.store import (
    SCHEMA_VERSION,
    BlockCommit,
    NodeStore,
    StoreClosed,
    StoreHeightError,
    StoreInputError,
    TxLocation,
)
from zonechain.node.store.layout import KEY_BYTES_MAX
from zonechain.vm.state import StateReader

CHAIN = "unit-test"


def digest(text: bytes) -> bytes:
    return hashlib.sha256(text).digest()


def node_key(version: int, index: int) -> bytes:
    return version.to_bytes(8, "big") + bytes([index])


def make_commit(height: int, **changes: object) -> BlockCommit:
    """A small, well-formed commit for ``height``; ``changes`` override fields."""
    commit = BlockCommit(
        height=height,
        block_hash=digest(b"block %d" % height),
        block=b"block %d" % height,
        state_root=digest(b"root %d" % height),
        tx_hashes=(digest(b"tx %d/0" % height), digest(b"tx %d/1" % height)),
        receipts=(b"receipt %d/0" % height, b"receipt %d/1" % height),
        state_writes={b"k%d" % height: b"value %d" % height},
        new_nodes={node_key(height, 0): b"node %d/0" % height,
                   node_key(height, 1): b"node %d/1" % height},
        stale_nodes=((height, node_key(height - 1, 0)),) if height > 0 else (),
        certificate=b"certificate %d" % height,
    )
    return replace(commit, **changes)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[NodeStore]:
    opened = NodeStore(tmp_path / "store", chain_id=CHAIN)
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def no_failpoints_after() -> Iterator[None]:
    yield
    reset()


# Opening ---------------------------------------------------------------------


def test_fresh_store_is_empty_and_initialised(store: NodeStore) -> None:
    assert store.chain_id == CHAIN
    assert store.initial_height == 0
    assert store.latest_height() is None
    assert store.next_height() == 0
    assert store.state_root() is None
    assert store.last_block_hash() is None
    assert store.tree_pruned_below() == 0
    assert store.load_block(0) is None
    assert SCHEMA_VERSION == 2


def test_initial_height_is_fixed_when_the_store_is_created(tmp_path: Path) -> None:
    with NodeStore(tmp_path, chain_id=CHAIN, initial_height=1) as store:
        with pytest.raises(StoreHeightError):
            store.commit_block(make_commit(0))
        store.commit_block(make_commit(1))
    with NodeStore(tmp_path, chain_id=CHAIN, initial_height=7) as reopened:
        assert reopened.initial_height == 1
        assert reopened.next_height() == 2


@pytest.mark.parametrize("chain_id", ["", " padded", "x" * 65, "tab\there", 7])
def test_bad_chain_id_is_refused_before_touching_disk(tmp_path: Path, chain_id: object) -> None:
    with pytest.raises(StoreInputError):
        NodeStore(tmp_path / "never", chain_id=chain_id)  # type: ignore[arg-type]
    assert not (tmp_path / "never").exists()


# Committing and reading back -------------------------------------------------


def test_commit_then_every_read(store: NodeStore) -> None:
    commit = make_commit(0)
    store.commit_block(commit)
    assert store.latest_height() == 0
    assert store.next_height() == 1
    assert store.state_root() == commit.state_root
    assert store.last_block_hash() == commit.block_hash
    assert store.load_block(0) == commit.block
    assert store.block_height(commit.block_hash) == 0
    assert store.load_block_by_hash(commit.block_hash) == commit.block
    assert store.load_block_by_hash(digest(b"other")) is None
    assert store.load_certificate(0) == commit.certificate
    for index, (tx_hash, receipt) in enumerate(zip(commit.tx_hashes, commit.receipts,
                                                   strict=True)):
        assert store.load_receipt(tx_hash) == receipt
        assert store.tx_location(tx_hash) == TxLocation(0, index)
    assert store.load_receipt(digest(b"unknown")) is None
    assert store.tx_location(digest(b"unknown")) is None
    assert store.get(b"k0") == b"value 0"
    assert store.get(b"absent") is None
    for key, node in commit.new_nodes.items():
        assert store.get_node(key) == node
    assert store.get_node(b"absent") is None


def test_committed_blocks_survive_reopening(tmp_path: Path) -> None:
    with NodeStore(tmp_path, chain_id=CHAIN) as store:
        for height in range(3):
            store.commit_block(make_commit(height))
    with NodeStore(tmp_path, chain_id=CHAIN) as reopened:
        assert reopened.latest_height() == 2
        assert reopened.state_root() == digest(b"root 2")
        assert reopened.last_block_hash() == digest(b"block 2")
        assert [reopened.get(b"k%d" % h) for h in range(3)] == [b"value %d" % h for h in range(3)]
        reopened.commit_block(make_commit(3))
        assert reopened.latest_height() == 3


def test_every_write_is_synced(store: NodeStore) -> None:
    assert store._sync.sync is True  # the durability guarantee rests on this one option


def test_state_writes_overwrite_and_delete(store: NodeStore) -> None:
    store.commit_block(make_commit(0, state_writes={b"a": b"1", b"b": b"2"}))
    store.commit_block(make_commit(1, state_writes={b"a": b"3", b"b": None, b"c": b""}))
    assert store.get(b"a") == b"3"
    assert store.get(b"b") is None
    assert store.get(b"c") == b""


def test_block_without_certificate_or_transactions(store: NodeStore) -> None:
    store.commit_block(make_commit(0, certificate=None, tx_hashes=(), receipts=(),
                                   state_writes={}, new_nodes={}))
    assert store.load_certificate(0) is None
    assert store.load_block(0) == b"block 0"


def test_save_certificate_later_for_committed_heights_only(store: NodeStore) -> None:
    store.commit_block(make_commit(0, certificate=None))
    store.save_certificate(0, b"late certificate")
    assert store.load_certificate(0) == b"late certificate"
    with pytest.raises(StoreInputError, match="not committed"):
        store.save_certificate(1, b"future")
    assert store.load_certificate(1) is None
    with pytest.raises(StoreInputError):
        store.save_certificate(0, b"")


def test_next_key_walks_a_prefix_in_byte_order(store: NodeStore) -> None:
    keys = [b"a", b"a\x00", b"a\x01", b"a\xff", b"ab", b"b", b"\xff"]
    store.commit_block(make_commit(0, state_writes={key: b"v" for key in reversed(keys)}))
    walked: list[bytes] = []
    after: bytes | None = None
    while (found := store.next_key(b"a", after)) is not None:
        walked.append(found)
        after = found
    assert walked == [b"a", b"a\x00", b"a\x01", b"ab", b"a\xff"]
    assert store.next_key(b"", None) == b"a"
    assert store.next_key(b"", b"b") == b"\xff"
    assert store.next_key(b"b", b"a") == b"b"  # after below the prefix: start of the prefix
    assert store.next_key(b"a", b"z") is None
    assert store.next_key(b"c", None) is None


def test_store_is_a_state_reader(store: NodeStore) -> None:
    reader: StateReader = store
    store.commit_block(make_commit(0, state_writes={b"s1": b"x"}))
    assert reader.get(b"s1") == b"x"
    assert reader.next_key(b"s", None) == b"s1"


# Malformed commits: typed error, nothing written ---------------------------------

PROBE_KEY = b"probe"
PROBE_NODE = b"probe-node"


def _probe(height: int, **changes: object) -> BlockCommit:
    """A commit that would leave visible traces (state, node, block) if half-applied."""
    base = make_commit(height, state_writes={PROBE_KEY: b"x"}, new_nodes={PROBE_NODE: b"n"})
    return replace(base, **changes)  # type: ignore[arg-type]


def _assert_nothing_written(store: NodeStore, height: int) -> None:
    assert store.latest_height() == 0
    assert store.get(PROBE_KEY) is None
    assert store.get_node(PROBE_NODE) is None
    assert store.load_block(height) is None
    assert store.load_certificate(height) is None


BAD_COMMITS: list[tuple[str, dict[str, object]]] = [
    ("block hash", {"block_hash": b"\x01" * 31}),
    ("block hash", {"block_hash": "not bytes"}),
    ("block must not be empty", {"block": b""}),
    ("state root", {"state_root": b"\x01" * 33}),
    ("certificate", {"certificate": b""}),
    ("transaction hash #1", {"tx_hashes": (digest(b"t0"), b"short")}),
    ("2 transaction hashes but 1 receipts", {"receipts": (b"only one",)}),
    ("twice", {"tx_hashes": (digest(b"t"), digest(b"t"))}),
    ("receipt #0", {"receipts": (b"", b"r")}),
    ("must be tuples", {"tx_hashes": [digest(b"t0"), digest(b"t1")]}),
    ("state key must not be empty", {"state_writes": {PROBE_KEY: b"x", b"": b"y"}}),
    ("state key is", {"state_writes": {PROBE_KEY: b"x", b"k" * (KEY_BYTES_MAX + 1): b"y"}}),
    ("state value", {"state_writes": {PROBE_KEY: b"x", b"k": "text"}}),
    ("mapping", {"state_writes": [(b"k", b"v")]}),
    ("tree node key", {"new_nodes": {PROBE_NODE: b"n", b"": b"n"}}),
    ("tree node", {"new_nodes": {PROBE_NODE: b"n", b"k": b""}}),
    ("beyond block height", {"stale_nodes": ((9, b"node"),)}),
    ("stale-since version", {"stale_nodes": ((-1, b"node"),)}),
    ("pair", {"stale_nodes": ((1,),)}),
    ("stale tree node key", {"stale_nodes": ((1, b""),)}),
    ("block height must be an int", {"height": True}),
]


@pytest.mark.parametrize(("fragment", "changes"), BAD_COMMITS)
def test_malformed_commit_is_refused_with_nothing_written(
    store: NodeStore, fragment: str, changes: dict[str, object]
) -> None:
    store.commit_block(make_commit(0))
    with pytest.raises(StoreInputError) as caught:
        store.commit_block(replace(_probe(1), **changes))  # type: ignore[arg-type]
    assert fragment in str(caught.value)
    _assert_nothing_written(store, 1)
    store.commit_block(make_commit(1))  # the store is still usable


@pytest.mark.parametrize("height", [0, 2, 5, -1])
def test_wrong_height_is_a_height_error_with_nothing_written(
    store: NodeStore, height: int
) -> None:
    store.commit_block(make_commit(0))
    with pytest.raises(StoreHeightError, match="is not the next height 1"):
        store.commit_block(replace(_probe(1, block_hash=digest(b"other")), height=height))
    _assert_nothing_written(store, height if height > 0 else 1)


def test_not_a_block_commit_is_refused(store: NodeStore) -> None:
    with pytest.raises(StoreInputError, match="BlockCommit"):
        store.commit_block({"height": 0})  # type: ignore[arg-type]


def test_duplicate_block_hash_is_refused(store: NodeStore) -> None:
    store.commit_block(make_commit(0))
    with pytest.raises(StoreInputError, match="already committed"):
        store.commit_block(_probe(1, block_hash=digest(b"block 0")))
    _assert_nothing_written(store, 1)


@pytest.mark.parametrize(
    "read",
    [
        lambda s: s.load_receipt(b"short"),
        lambda s: s.tx_location(b"\x00" * 33),
        lambda s: s.block_height(b""),
        lambda s: s.load_block(-1),
        lambda s: s.load_certificate("1"),
        lambda s: s.get(b""),
        lambda s: s.get("text"),
        lambda s: s.next_key("a", None),
        lambda s: s.next_key(b"a", "b"),
        lambda s: s.get_node(b""),
        lambda s: s.load_consensus(b""),
        lambda s: s.consensus_records("x"),
    ],
)
def test_malformed_read_arguments_are_input_errors(store: NodeStore, read: object) -> None:
    with pytest.raises(StoreInputError):
        read(store)  # type: ignore[operator]


# Fail-points in one process ---------------------------------------------------------


def test_failure_before_write_leaves_nothing_and_store_usable(store: NodeStore) -> None:
    store.commit_block(make_commit(0))
    configure("store.commit.before_write=raise")
    with pytest.raises(FailpointTriggered):
        store.commit_block(_probe(1))
    reset()
    _assert_nothing_written(store, 1)
    store.commit_block(make_commit(1))
    assert store.latest_height() == 1


def test_failure_after_write_leaves_the_whole_block(store: NodeStore) -> None:
    configure("store.commit.after_write=raise")
    with pytest.raises(FailpointTriggered):
        store.commit_block(make_commit(0))
    reset()
    assert store.latest_height() == 0
    assert store.load_block(0) == b"block 0"
    store.commit_block(make_commit(1))


# Tree pruning -------------------------------------------------------------------


def test_prune_tree_deletes_nodes_stale_up_to_the_version(tmp_path: Path) -> None:
    with NodeStore(tmp_path, chain_id=CHAIN) as store:
        for height in range(4):  # block h makes node (h-1, 0) stale since h
            store.commit_block(make_commit(height))
        assert store.prune_tree(2) == 2  # nodes (0,0) stale since 1 and (1,0) since 2
        assert store.get_node(node_key(0, 0)) is None
        assert store.get_node(node_key(1, 0)) is None
        assert store.get_node(node_key(2, 0)) == b"node 2/0"  # stale since 3: kept
        assert store.get_node(node_key(0, 1)) == b"node 0/1"  # never stale
        assert store.tree_pruned_below() == 2
        assert store.prune_tree(2) == 0
        assert store.prune_tree(1) == 0
        assert store.tree_pruned_below() == 2  # never moves back
    with NodeStore(tmp_path, chain_id=CHAIN) as reopened:
        assert reopened.tree_pruned_below() == 2
        assert reopened.prune_tree(3) == 1
        assert reopened.get_node(node_key(2, 0)) is None


def test_prune_tree_beyond_the_last_version_is_refused(store: NodeStore) -> None:
    with pytest.raises(StoreInputError, match="last committed is None"):
        store.prune_tree(0)
    store.commit_block(make_commit(0))
    with pytest.raises(StoreInputError):
        store.prune_tree(1)
    with pytest.raises(StoreInputError):
        store.prune_tree(-1)


# Consensus records -----------------------------------------------------------------


def test_consensus_records_save_load_delete_and_list(tmp_path: Path) -> None:
    with NodeStore(tmp_path, chain_id=CHAIN) as store:
        assert store.load_consensus(b"vote") is None
        store.save_consensus(b"vote", b"h1")
        store.save_consensus(b"vote", b"h2")
        store.save_consensus(b"wal/\x00\x02", b"second")
        store.save_consensus(b"wal/\x00\x01", b"first")
        store.save_consensus(b"walrus", b"not in the prefix")
        assert store.load_consensus(b"vote") == b"h2"
    with NodeStore(tmp_path, chain_id=CHAIN) as reopened:
        assert reopened.load_consensus(b"vote") == b"h2"
        assert reopened.consensus_records(b"wal/") == [
            (b"wal/\x00\x01", b"first"), (b"wal/\x00\x02", b"second"),
        ]
        assert len(reopened.consensus_records()) == 4
        reopened.delete_consensus(b"vote")
        reopened.delete_consensus(b"never saved")
        assert reopened.load_consensus(b"vote") is None
        with pytest.raises(StoreInputError):
            reopened.save_consensus(b"k" * (KEY_BYTES_MAX + 1), b"v")
        with pytest.raises(StoreInputError):
            reopened.save_consensus(b"k", "text")  # type: ignore[arg-type]


# Closing ---------------------------------------------------------------------------


def test_close_is_idempotent_and_later_use_is_a_typed_error(tmp_path: Path) -> None:
    store = NodeStore(tmp_path, chain_id=CHAIN)
    store.commit_block(make_commit(0))
    assert store.next_key(b"k", None) == b"k0"  # leaves no iterator holding the DB open
    store.close()
    store.close()
    assert store.closed
    with pytest.raises(StoreClosed):
        store.get(b"k0")
    with pytest.raises(StoreClosed):
        store.commit_block(make_commit(1))
    with pytest.raises(StoreClosed):
        store.save_consensus(b"vote", b"v")
    with NodeStore(tmp_path, chain_id=CHAIN) as reopened:  # the lock was released
        assert reopened.get(b"k0") == b"value 0"
