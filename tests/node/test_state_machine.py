"""The fast Jellyfish tree against the from-scratch reference, over random histories.

Key hashes are chosen directly (through ``put_hashed_batch``) so that keys
share long prefixes: the same first nibble, the same first 31 bytes, or all
but the last bit. After every step the fast root must equal the reference
root, proofs for present and absent keys must equal the reference proofs and
verify, tampered proofs must fail, and pruning must leave every version in the
window readable (by a tree with a cold cache) and refuse every older one.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from zonechain.node.state.errors import VersionPruned
from zonechain.node.state.memory import MemoryNodeStore
from zonechain.node.state.node import InternalNode, decode_node, encode_node_key, root_node_key
from zonechain.node.state.proof import (
    ProofError,
    StateProof,
    verify_proof_hashed,
)
from zonechain.node.state.pruning import prune
from zonechain.node.state.reference import reference_proof_hashed, reference_root_hashed
from zonechain.node.state.tree import JellyfishMerkleTree

BASES = (bytes(32), b"\xff" * 32, hashlib.sha256(b"zonechain").digest())
# Bits a chosen key hash shares with its base: 0 (random), within the first
# nibble, whole nibbles, and nearly all 256 bits (siblings deep in the tree).
SHARED_BITS = (0, 1, 3, 4, 5, 8, 12, 60, 128, 200, 248, 252, 255)


@st.composite
def key_hashes(draw: st.DrawFn) -> bytes:
    base = int.from_bytes(draw(st.sampled_from(BASES)), "big")
    shared = draw(st.sampled_from(SHARED_BITS))
    tail = int.from_bytes(draw(st.binary(min_size=32, max_size=32)), "big")
    low_mask = (1 << (256 - shared)) - 1
    return ((base & ~low_mask) | (tail & low_mask)).to_bytes(32, "big")


value_hashes = st.sampled_from([bytes([byte]) * 32 for byte in range(1, 5)])


def neighbour(key_hash: bytes) -> bytes:
    """The key hash differing from ``key_hash`` in the last bit only."""
    return key_hash[:-1] + bytes([key_hash[-1] ^ 1])


class TreeVersusReference(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryNodeStore()
        self.tree = JellyfishMerkleTree(self.store)
        self.snapshots: dict[int, dict[bytes, bytes]] = {}
        self.roots: dict[int, bytes] = {}
        self.latest: int | None = None
        self.min_readable = 0

    def current(self) -> dict[bytes, bytes]:
        return {} if self.latest is None else self.snapshots[self.latest]

    def draw_batch(self, data: st.DataObject) -> dict[bytes, bytes | None]:
        batch: dict[bytes, bytes | None] = {}
        present = sorted(self.current())
        for _ in range(data.draw(st.integers(0, 8), label="batch size")):
            touch_present: bool = data.draw(st.booleans(), label="touch a present key")
            if present and touch_present:
                key = data.draw(st.sampled_from(present))
            else:
                key = data.draw(key_hashes())
            delete = data.draw(st.integers(0, 3)) == 0
            batch[key] = None if delete else data.draw(value_hashes)
        return batch

    @rule(data=st.data(), gap=st.integers(1, 3))
    def apply_batch(self, data: st.DataObject, gap: int) -> None:
        batch = self.draw_batch(data)
        version = 0 if self.latest is None else self.latest + gap
        update = self.tree.put_hashed_batch(version, self.latest, batch)
        assert all(key[:8] == version.to_bytes(8, "big") for key in update.new_nodes)
        assert all(since == version for since, _ in update.stale_nodes)
        assert not set(update.new_nodes) & self.store.nodes.keys()
        self.store.apply(update)
        self.tree.remember(update)
        state = dict(self.current())
        for key, value in batch.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        self.latest = version
        self.snapshots[version] = state
        self.roots[version] = update.root_hash
        assert update.root_hash == reference_root_hashed(state)

    @precondition(lambda self: self.latest is not None)
    @rule(data=st.data())
    def speculate_and_discard(self, data: st.DataObject) -> None:
        """A computed but never stored batch must not change anything later read."""
        assert self.latest is not None
        self.tree.put_hashed_batch(self.latest + 1, self.latest, self.draw_batch(data))

    @precondition(lambda self: self.latest is not None)
    @rule(window=st.integers(1, 4))
    def prune_old_versions(self, window: int) -> None:
        assert self.latest is not None
        plan = prune(self.store.stale_index, self.latest, window)
        self.store.apply_prune(plan)
        self.tree.forget_pruned(plan)
        self.min_readable = max(self.min_readable, plan.min_readable_version)
        cold = JellyfishMerkleTree(self.store, self.min_readable)
        for version in sorted(self.snapshots):
            if version < self.min_readable:
                with pytest.raises(VersionPruned):
                    cold.root_hash(version)
                with pytest.raises(VersionPruned):
                    self.tree.root_hash(version)
            else:
                self.check_version(cold, version)

    @precondition(lambda self: self.latest is not None)
    @rule(data=st.data())
    def read_an_old_version(self, data: st.DataObject) -> None:
        readable = [v for v in sorted(self.snapshots) if v >= self.min_readable]
        version = data.draw(st.sampled_from(readable))
        self.check_version(JellyfishMerkleTree(self.store, self.min_readable), version)

    @invariant()
    def latest_matches_reference(self) -> None:
        if self.latest is not None:
            self.check_version(self.tree, self.latest)

    @invariant()
    def every_unreachable_node_is_indexed_stale(self) -> None:
        """No leak: a node is either in the latest tree or awaiting pruning, never both."""
        if self.latest is None:
            return
        reachable = reachable_node_keys(self.store.nodes, self.latest)
        indexed = {node_key for _, node_key in self.store.stale_index}
        assert not reachable & indexed
        assert set(self.store.nodes) == reachable | (indexed & self.store.nodes.keys())

    def check_version(self, tree: JellyfishMerkleTree, version: int) -> None:
        state = self.snapshots[version]
        root = tree.root_hash(version)
        assert root == self.roots[version] == reference_root_hashed(state)
        present = sorted(state)[:3]
        absent = [neighbour(k) for k in present if neighbour(k) not in state]
        absent += [b"\x00" * 32, b"\x80" + bytes(31)]
        for key in present + absent:
            proof = tree.get_proof_hashed(key, version)
            assert proof == reference_proof_hashed(state, key)
            assert StateProof.decode(proof.encode()) == proof
            verify_proof_hashed(root, key, state.get(key), proof)
            check_tampering_fails(root, key, state.get(key), proof)


def reachable_node_keys(nodes: dict[bytes, bytes], version: int) -> set[bytes]:
    """Node keys of the tree of ``version``, found by walking it from its root."""
    found = {root_node_key(version)}
    pending = [(root_node_key(version), bytes(32), 0)]
    while pending:
        node_key, path, depth = pending.pop()
        node = decode_node(nodes[node_key])
        if not isinstance(node, InternalNode):
            continue
        for nibble, child in enumerate(node.children):
            if child is None:
                continue
            child_path = bytearray(path)
            child_path[depth >> 1] |= nibble << (0 if depth & 1 else 4)
            child_key = encode_node_key(child.version, bytes(child_path), depth + 1)
            found.add(child_key)
            pending.append((child_key, bytes(child_path), depth + 1))
    return found


def check_tampering_fails(
    root: bytes, key: bytes, value: bytes | None, proof: StateProof
) -> None:
    wrong_value = b"\x77" * 32 if value != b"\x77" * 32 else b"\x78" * 32
    with pytest.raises(ProofError):
        verify_proof_hashed(root, key, wrong_value, proof)
    if value is not None:
        with pytest.raises(ProofError):
            verify_proof_hashed(root, key, None, proof)
    if proof.siblings:
        flipped = bytes([proof.siblings[-1][0] ^ 1]) + proof.siblings[-1][1:]
        tampered = StateProof((*proof.siblings[:-1], flipped), proof.leaf)
        with pytest.raises(ProofError):
            verify_proof_hashed(root, key, value, tampered)
    with pytest.raises(ProofError):
        verify_proof_hashed(bytes([root[0] ^ 1]) + root[1:], key, value, proof)


TreeVersusReference.TestCase.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None
)
test_tree_versus_reference = TreeVersusReference.TestCase
