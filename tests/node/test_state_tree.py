"""Unit tests of the Jellyfish tree: versions, inputs, pruning, storage faults, encodings."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.node.state.errors import (
    CorruptNode,
    MissingNode,
    TreeInputError,
    VersionNotFound,
    VersionPruned,
)
from zonechain.node.state.memory import MemoryNodeStore
from zonechain.node.state.node import (
    Child,
    InternalNode,
    LeafNode,
    decode_node,
    encode_node_key,
    merged_slots_hash,
    root_node_key,
    slot_range_hash,
)
from zonechain.node.state.proof import EMPTY_ROOT_HASH, ProofError, verify_proof
from zonechain.node.state.pruning import prune
from zonechain.node.state.reference import reference_root
from zonechain.node.state.tree import JellyfishMerkleTree, TreeUpdate


def new_tree() -> tuple[MemoryNodeStore, JellyfishMerkleTree]:
    store = MemoryNodeStore()
    return store, JellyfishMerkleTree(store)


def commit(
    store: MemoryNodeStore, tree: JellyfishMerkleTree, version: int, base: int | None,
    updates: dict[bytes, bytes | None],
) -> TreeUpdate:
    update = tree.put_batch(version, base, updates)
    store.apply(update)
    return update


def test_empty_tree_has_the_named_empty_root() -> None:
    store, tree = new_tree()
    assert commit(store, tree, 0, None, {}).root_hash == EMPTY_ROOT_HASH
    assert tree.root_hash(0) == EMPTY_ROOT_HASH
    verify_proof(EMPTY_ROOT_HASH, b"k", None, tree.get_proof(b"k", 0))


def test_insert_update_delete_back_to_empty() -> None:
    store, tree = new_tree()
    first = commit(store, tree, 1, None, {b"a": b"1", b"b": b"2"})
    assert first.root_hash == reference_root({b"a": b"1", b"b": b"2"})
    second = commit(store, tree, 2, 1, {b"a": b"3"})
    assert second.root_hash == reference_root({b"a": b"3", b"b": b"2"})
    third = commit(store, tree, 3, 2, {b"a": None, b"b": None})
    assert third.root_hash == EMPTY_ROOT_HASH
    assert tree.root_hash(1) == first.root_hash  # old versions stay readable
    verify_proof(first.root_hash, b"a", b"1", tree.get_proof(b"a", 1))
    verify_proof(second.root_hash, b"a", b"3", tree.get_proof(b"a", 2))
    verify_proof(third.root_hash, b"a", None, tree.get_proof(b"a", 3))
    with pytest.raises(ProofError):
        verify_proof(second.root_hash, b"a", b"1", tree.get_proof(b"a", 2))


@settings(max_examples=25)
@given(
    st.lists(
        st.dictionaries(
            st.binary(min_size=1, max_size=3), st.none() | st.binary(max_size=4), max_size=30
        ),
        min_size=1,
        max_size=6,
    )
)
def test_real_keys_match_reference(batches: list[dict[bytes, bytes | None]]) -> None:
    store, tree = new_tree()
    state: dict[bytes, bytes] = {}
    for version, batch in enumerate(batches):
        update = commit(store, tree, version, version - 1 if version else None, batch)
        for key, value in batch.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        assert update.root_hash == reference_root(state)
        for key in [*batch, b"never written"]:
            verify_proof(update.root_hash, key, state.get(key), tree.get_proof(key, version))


def test_root_does_not_depend_on_insertion_order_or_batching() -> None:
    items = {hashlib.sha256(bytes([i])).digest()[:5]: bytes([i]) for i in range(200)}
    store_a, tree_a = new_tree()
    one_batch = commit(store_a, tree_a, 0, None, dict(items)).root_hash
    store_b, tree_b = new_tree()
    version_b: int | None = None
    for index, key in enumerate(reversed(list(items))):
        commit(store_b, tree_b, index, version_b, {key: items[key]})
        version_b = index
    assert version_b is not None
    assert tree_b.root_hash(version_b) == one_batch == reference_root(items)


def test_empty_batch_copies_the_root_forward() -> None:
    store, tree = new_tree()
    commit(store, tree, 1, None, {b"a": b"1", b"b": b"2"})
    update = commit(store, tree, 2, 1, {})
    assert list(update.new_nodes) == [root_node_key(2)]
    assert update.stale_nodes == ((2, root_node_key(1)),)
    assert tree.root_hash(2) == tree.root_hash(1)


def test_deleting_an_absent_key_changes_nothing_but_the_root_copy() -> None:
    store, tree = new_tree()
    first = commit(store, tree, 1, None, {b"a": b"1", b"b": b"2", b"c": b"3"})
    update = commit(store, tree, 2, 1, {b"zz": None, b"a": b"1"})
    assert update.root_hash == first.root_hash
    assert list(update.new_nodes) == [root_node_key(2)]


@pytest.mark.parametrize(
    ("version", "base"),
    [(-1, None), (2**64, None), (True, None), ("1", None), (3, 3), (3, 5), (3, -1)],
)
def test_bad_versions_are_refused(version: object, base: object) -> None:
    _, tree = new_tree()
    with pytest.raises(TreeInputError):
        tree.put_batch(version, base, {})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "updates", [{"k": b"v"}, {b"k": "v"}, {b"k": 1}, [(b"k", b"v")]]
)
def test_bad_updates_are_refused(updates: object) -> None:
    _, tree = new_tree()
    with pytest.raises(TreeInputError):
        tree.put_batch(1, None, updates)  # type: ignore[arg-type]


def test_bad_hashed_updates_and_proof_keys_are_refused() -> None:
    _, tree = new_tree()
    with pytest.raises(TreeInputError):
        tree.put_hashed_batch(1, None, {b"short": None})
    with pytest.raises(TreeInputError):
        tree.put_hashed_batch(1, None, {bytes(32): b"short"})
    with pytest.raises(TreeInputError):
        tree.get_proof("key", 0)  # type: ignore[arg-type]


def test_unknown_version_is_not_found() -> None:
    store, tree = new_tree()
    commit(store, tree, 0, None, {b"a": b"1"})
    with pytest.raises(VersionNotFound):
        tree.root_hash(7)
    with pytest.raises(VersionNotFound):
        tree.put_batch(9, 8, {b"a": b"2"})


def test_pruned_versions_are_refused_and_window_stays_readable() -> None:
    store, tree = new_tree()
    state: dict[bytes, bytes] = {}
    for version in range(10):
        update = {bytes([version % 4]): bytes([version]), bytes([version + 10]): b"x"}
        commit(store, tree, version, version - 1 if version else None, dict(update))
        state.update(update)
    nodes_before = len(store.nodes)
    plan = prune(store.stale_index, 9, window=3)
    assert plan.min_readable_version == 7
    store.apply_prune(plan)
    tree.forget_pruned(plan)
    assert len(store.nodes) == nodes_before - len(plan.node_keys) < nodes_before
    for version in range(7):
        with pytest.raises(VersionPruned):
            tree.root_hash(version)
        with pytest.raises(VersionPruned):
            tree.get_proof(b"\x00", version)
    cold = JellyfishMerkleTree(store, min_readable_version=7)
    for version in (7, 8, 9):
        assert cold.root_hash(version) == tree.root_hash(version)
    assert cold.root_hash(9) == reference_root(state)
    for key, value in state.items():
        verify_proof(cold.root_hash(9), key, value, cold.get_proof(key, 9))


def test_prune_plan_is_sorted_and_checks_its_window() -> None:
    index = [(5, b"b"), (2, b"a"), (9, b"c"), (2, b"z")]
    plan = prune(index, latest_version=10, window=5)
    assert plan.min_readable_version == 6
    assert plan.node_keys == (b"a", b"b", b"z")
    assert plan.stale_entries == ((2, b"a"), (2, b"z"), (5, b"b"))
    assert prune(index, latest_version=1, window=5).node_keys == ()
    with pytest.raises(TreeInputError):
        prune(index, latest_version=10, window=0)
    with pytest.raises(TreeInputError):
        prune(index, latest_version=-1, window=1)


def test_missing_node_is_a_fault_not_a_wrong_answer() -> None:
    store, tree = new_tree()
    commit(store, tree, 0, None, {bytes([i]): b"v" for i in range(50)})
    child_keys = [key for key in store.nodes if key != root_node_key(0)]
    for key in child_keys:
        del store.nodes[key]
    cold = JellyfishMerkleTree(store)
    with pytest.raises(MissingNode):
        cold.get_proof(bytes([3]), 0)
    with pytest.raises(MissingNode):
        cold.put_batch(1, 0, {bytes([3]): b"w"})


def test_corrupt_node_bytes_raise_corrupt_node() -> None:
    store, tree = new_tree()
    store.nodes[root_node_key(0)] = b"\x01\xff"
    with pytest.raises(CorruptNode):
        tree.root_hash(0)
    for bad in [b"", b"\x07", b"\x00\x00", b"\x02" + bytes(10), b"\x01\x00\x00\x00\x00",
                b"\x01\x01\x00\x02\x00" + bytes(40), b"\x01\x01\x00\x00\x00" + bytes(39)]:
        with pytest.raises(CorruptNode):
            decode_node(bad)


def test_node_encodings_round_trip() -> None:
    leaf = LeafNode(b"\x01" * 32, b"\x02" * 32)
    decoded_leaf = decode_node(leaf.encode())
    assert isinstance(decoded_leaf, LeafNode) and decoded_leaf.hash == leaf.hash
    children: list[Child | None] = [None] * 16
    children[3] = Child(7, leaf.hash, True)
    children[15] = Child(2**64 - 1, b"\x05" * 32, False)
    node = InternalNode(tuple(children))
    decoded = decode_node(node.encode())
    assert isinstance(decoded, InternalNode)
    assert decoded.encode() == node.encode() and decoded.hash == node.hash


def test_node_keys_order_by_version_and_pack_nibbles() -> None:
    key_hash = bytes([0xAB, 0xCD]) + bytes(30)
    assert encode_node_key(1, key_hash, 0) == bytes(7) + b"\x01\x00"
    assert encode_node_key(1, key_hash, 3) == bytes(7) + b"\x01\x03\xab\xc0"
    assert encode_node_key(1, key_hash, 4) == bytes(7) + b"\x01\x04\xab\xcd"
    assert encode_node_key(1, key_hash, 64) < encode_node_key(2, bytes(32), 0)


@settings(max_examples=100)
@given(
    st.lists(
        st.none() | st.tuples(st.binary(min_size=32, max_size=32), st.booleans()),
        min_size=16,
        max_size=16,
    ).filter(lambda slots: any(slot is not None for slot in slots))
)
def test_both_internal_hash_paths_agree(slots: list[tuple[bytes, bool] | None]) -> None:
    children = tuple(
        None if slot is None else Child(1, slot[0], slot[1]) for slot in slots
    )
    present = [(nibble, c) for nibble, c in enumerate(children) if c is not None]
    assert merged_slots_hash(children) == slot_range_hash(present, 0, 16)
    assert InternalNode(children).hash == slot_range_hash(present, 0, 16)
