"""The Jellyfish Merkle tree: versioned, batch-updated, radix-16 authenticated state.

Guarantees:

- ``root_hash(v)`` equals ``reference.reference_root`` of the key/value map as
  of version ``v`` (tested against it after every random batch);
- ``put_batch`` is pure computation: it reads nodes through the
  ``TreeNodeReader`` seam and returns a ``TreeUpdate`` (new nodes to persist,
  node keys made stale); it writes nothing, so a rejected or crashed batch
  leaves no trace. The store persists the update atomically with the block;
- every version stays readable until pruned; a version below
  ``min_readable_version`` raises ``VersionPruned`` and is never read;
- ``get_proof`` answers for present and absent keys alike; the proof checks
  with ``proof.verify_proof`` against ``root_hash(v)``.

Layout (see ``node.py``): a node lives at (version, nibble path); a subtree
holding one key is a single leaf as high as it can go; internal nodes are not
path-compressed. History is linear: each batch builds on ``base_version`` and
writes under a newer ``version``; every version gets its own root node (an
empty batch copies the root), so the old root is always stale.

Speed: a batch is sorted by key hash and applied in one recursive descent, so
a node shared by many updated keys is read, rebuilt and hashed once per batch;
decoded nodes read from storage are cached (node keys never change meaning).
Nodes computed but not yet persisted are never cached: a speculative batch
that is thrown away cannot leak into later reads.

Determinism: updates are sorted by key hash before use; children are kept in
nibble order; the stale list is sorted; no floats, no clock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from zonechain.node.state.errors import (
    CorruptNode,
    MissingNode,
    TreeInputError,
    VersionNotFound,
    VersionPruned,
)
from zonechain.node.state.node import (
    NULL_NODE,
    RADIX,
    VERSION_MAX,
    Child,
    InternalNode,
    LeafNode,
    Node,
    NullNode,
    decode_node,
    encode_node_key,
    encode_node_path,
    nibble_at,
    root_node_key,
    slot_range_hash,
)
from zonechain.node.state.proof import (
    HASH_BYTES,
    ProofLeaf,
    StateProof,
    hash_key,
    hash_value,
    leaf_hash,
)
from zonechain.node.state.pruning import PrunePlan

# Decoded nodes kept in memory: internal nodes as they are read or written,
# leaves only as they are written (a leaf read from the store is about to be
# replaced, but a leaf just written is the next one read when an active
# account moves again). Nodes a batch makes stale leave the cache when it is
# remembered, so the cache holds the live tree's recent part. 200k nodes hold
# the top five levels of a 10^6-key tree (~70k nodes) and ~25 blocks of
# written leaves; a full 16-child node decoded is ~2.5 KB, a leaf ~0.2 KB.
NODE_CACHE_ENTRIES_MAX = 200_000

# (key hash, value hash or None for a delete), sorted by key hash.
_Entry = tuple[bytes, bytes | None]
_E = TypeVar("_E", bound=tuple[bytes, bytes | None])


class TreeNodeReader(Protocol):
    """Read access to persisted tree nodes (the store implements it over RocksDB)."""

    def get_node(self, node_key: bytes) -> bytes | None: ...


@dataclass(frozen=True)
class TreeUpdate:
    """The outcome of one batch: persist ``new_nodes``, index ``stale_nodes`` for pruning."""

    version: int
    root_hash: bytes
    new_nodes: dict[bytes, bytes]
    stale_nodes: tuple[tuple[int, bytes], ...]
    # The same new nodes, decoded, for ``JellyfishMerkleTree.remember``.
    decoded_nodes: Mapping[bytes, Node] = field(default_factory=dict, compare=False, repr=False)


class _BatchWriter:
    """The nodes one batch writes (under its version) and the node keys it makes stale."""

    __slots__ = ("key_prefix", "new_nodes", "record_prefix", "stale", "version", "written")

    def __init__(self, version: int) -> None:
        self.version = version
        self.key_prefix = version.to_bytes(8, "big")  # node keys: u64 BE version first
        self.record_prefix = version.to_bytes(8, "little")  # a parent's child record
        self.new_nodes: dict[bytes, bytes] = {}
        self.written: dict[bytes, Node] = {}
        self.stale: list[bytes] = []  # node keys, all stale since ``version``

    def write(self, node: LeafNode | InternalNode, path_key: bytes, depth: int) -> Child:
        node_key = self.key_prefix + encode_node_path(path_key, depth)
        self.new_nodes[node_key] = node.encode()
        self.written[node_key] = node
        hash_ = node.hash
        return Child(self.version, hash_, isinstance(node, LeafNode), self.record_prefix + hash_)

    def write_leaf(self, key_hash: bytes, value_hash: bytes, depth: int) -> Child:
        """``write`` of a new leaf, without the generic dispatch (the commonest write)."""
        node_key = self.key_prefix + encode_node_path(key_hash, depth)
        hash_ = leaf_hash(key_hash, value_hash)
        leaf = LeafNode(key_hash, value_hash, hash_)
        self.new_nodes[node_key] = leaf.encode()
        self.written[node_key] = leaf
        return Child(self.version, hash_, True, self.record_prefix + hash_)


def _child_path_key(path_key: bytes, depth: int, nibble: int) -> bytes:
    """A path key whose first ``depth + 1`` nibbles are ``path_key``'s, then ``nibble``."""
    index = depth >> 1
    prefix = bytearray(path_key[: index + 1])
    if depth & 1:
        prefix[index] = (prefix[index] & 0xF0) | nibble
    else:
        prefix[index] = nibble << 4
    return bytes(prefix)


def _group_by_nibble(entries: list[_E], depth: int) -> list[tuple[int, list[_E]]]:
    """Split sorted entries into runs sharing nibble ``depth``, in nibble order."""
    groups: list[tuple[int, list[_E]]] = []
    start = 0
    current = nibble_at(entries[0][0], depth)
    for index in range(1, len(entries)):
        nibble = nibble_at(entries[index][0], depth)
        if nibble != current:
            groups.append((current, entries[start:index]))
            start, current = index, nibble
    groups.append((current, entries[start:]))
    return groups


class JellyfishMerkleTree:
    """Computes versions of the tree over nodes that someone else stores."""

    def __init__(self, reader: TreeNodeReader, min_readable_version: int = 0) -> None:
        self._reader = reader
        self.min_readable_version = min_readable_version
        # Insertion-ordered, oldest evicted first (OrderedDict: O(1) at the front,
        # where a plain dict's next(iter()) rescans deleted slots).
        self._cache: OrderedDict[bytes, Node] = OrderedDict()

    # -- reading ---------------------------------------------------------

    def root_hash(self, version: int) -> bytes:
        return self._load_root(version).hash

    def get_proof(self, key: bytes, version: int) -> StateProof:
        """Inclusion proof if ``key`` is present at ``version``, non-inclusion proof if not."""
        if not isinstance(key, bytes):
            raise TreeInputError("state key must be bytes")
        return self.get_proof_hashed(hash_key(key), version)

    def get_proof_hashed(self, key_hash: bytes, version: int) -> StateProof:
        _check_key_hash(key_hash)
        node = self._load_root(version)
        siblings: list[bytes] = []
        depth = 0
        while isinstance(node, InternalNode):
            located = _descend_slots(node, nibble_at(key_hash, depth), siblings)
            if located is None:
                return StateProof(tuple(siblings), None)
            nibble, child = located
            child_key = encode_node_key(
                child.version, _child_path_key(key_hash, depth, nibble), depth + 1
            )
            node = self._load(child_key)
            depth += 1
        if isinstance(node, LeafNode):
            return StateProof(tuple(siblings), ProofLeaf(node.key_hash, node.value_hash))
        return StateProof(tuple(siblings), None)

    def remember(self, update: TreeUpdate) -> None:
        """Cache the decoded nodes of ``update``; call only once the store holds them.

        Optional (speed only): the next batch then finds the nodes this one
        wrote without reading and decoding them, and the nodes it made stale
        leave the cache (older versions read them from the store). Never call
        it for an update that was not persisted, or for one built over another
        tree's nodes.
        """
        cache = self._cache
        for _, node_key in update.stale_nodes:
            cache.pop(node_key, None)
        cache.update(update.decoded_nodes)
        for _ in range(len(cache) - NODE_CACHE_ENTRIES_MAX):
            cache.popitem(last=False)  # oldest first

    def forget_pruned(self, plan: PrunePlan) -> None:
        """Refuse versions the plan pruned, and drop its nodes from the cache."""
        self.min_readable_version = max(self.min_readable_version, plan.min_readable_version)
        for node_key in plan.node_keys:
            self._cache.pop(node_key, None)

    def _load_root(self, version: int) -> Node:
        _check_version(version, "version")
        if version < self.min_readable_version:
            raise VersionPruned(version, self.min_readable_version)
        try:
            return self._load(root_node_key(version))
        except MissingNode:
            raise VersionNotFound(version) from None

    def _load(self, node_key: bytes) -> Node:
        node = self._cache.get(node_key)
        if node is None:
            data = self._reader.get_node(node_key)
            if data is None:
                raise MissingNode(node_key)
            node = decode_node(data)
            self._remember_node(node_key, node)
        return node

    def _remember_node(self, node_key: bytes, node: Node) -> None:
        if isinstance(node, LeafNode):
            return
        if len(self._cache) >= NODE_CACHE_ENTRIES_MAX:
            self._cache.popitem(last=False)
        self._cache[node_key] = node

    # -- writing ---------------------------------------------------------

    def put_batch(
        self, version: int, base_version: int | None, updates: Mapping[bytes, bytes | None]
    ) -> TreeUpdate:
        """The tree of ``base_version`` (None: empty) with ``updates`` applied, as ``version``.

        ``updates`` maps state keys to their new value, None deleting the key.
        """
        if not isinstance(updates, Mapping):
            raise TreeInputError("updates must be a mapping of bytes to bytes or None")
        hashed: dict[bytes, bytes | None] = {}
        for key, value in updates.items():
            if not isinstance(key, bytes):
                raise TreeInputError(f"state key must be bytes, got {type(key).__name__}")
            if value is not None and not isinstance(value, bytes):
                raise TreeInputError(f"value must be bytes or None, got {type(value).__name__}")
            hashed[hash_key(key)] = None if value is None else hash_value(value)
        return self.put_hashed_batch(version, base_version, hashed)

    def put_hashed_batch(
        self, version: int, base_version: int | None, updates: Mapping[bytes, bytes | None]
    ) -> TreeUpdate:
        """``put_batch`` with key hashes and value hashes already computed."""
        _check_version(version, "version")
        if base_version is not None:
            _check_version(base_version, "base_version")
            if base_version >= version:
                raise TreeInputError(f"version {version} must be newer than base {base_version}")
        for key_hash, value_hash in updates.items():
            _check_key_hash(key_hash)
            if value_hash is not None and (
                not isinstance(value_hash, bytes) or len(value_hash) != HASH_BYTES
            ):
                raise TreeInputError("value hash must be 32 bytes or None")
        entries = sorted(updates.items())
        writer = _BatchWriter(version)
        root = self._apply_to_root(writer, base_version, entries)
        return TreeUpdate(
            version=version,
            root_hash=root.hash,
            new_nodes=writer.new_nodes,
            stale_nodes=tuple([(version, node_key) for node_key in sorted(set(writer.stale))]),
            decoded_nodes=writer.written,
        )

    def _apply_to_root(
        self, writer: _BatchWriter, base_version: int | None, entries: list[_Entry]
    ) -> Node:
        old: Child | None = None
        if base_version is not None:
            base_root = self._load_root(base_version)
            writer.stale.append(root_node_key(base_version))
            if not isinstance(base_root, NullNode):
                old = Child(base_version, base_root.hash, isinstance(base_root, LeafNode))
        new = self._update(writer, old, 0, entries) if entries else old
        new_root_key = root_node_key(writer.version)
        if new is None:
            writer.new_nodes[new_root_key] = NULL_NODE.encode()
            writer.written[new_root_key] = NULL_NODE
            return NULL_NODE
        if new is old and base_version is not None:  # unchanged: copy the root forward
            root = self._load(root_node_key(base_version))
            if isinstance(root, NullNode):
                raise CorruptNode(f"root of version {base_version} changed while read")
            writer.new_nodes[new_root_key] = root.encode()
            writer.written[new_root_key] = root
            return root
        return writer.written[new_root_key]

    def _update(
        self, writer: _BatchWriter, old: Child | None, depth: int, entries: list[_Entry]
    ) -> Child | None:
        """Apply ``entries`` (non-empty, all under this path) to the subtree ``old``.

        Returns ``old`` itself when nothing changed, else the new subtree's
        record (None: now empty). A replaced node is marked stale.
        """
        if old is None:
            if len(entries) == 1:
                key_hash, value_hash = entries[0]
                if value_hash is None:
                    return None
                return writer.write_leaf(key_hash, value_hash, depth)
            inserts = [(key, value) for key, value in entries if value is not None]
            return self._build(writer, inserts, depth)
        old_key = encode_node_key(old.version, entries[0][0], depth)
        if old.is_leaf:
            return self._update_leaf(writer, old, old_key, self._load_leaf(old_key), depth, entries)
        node = self._load(old_key)
        if isinstance(node, InternalNode):
            return self._update_internal(writer, old, old_key, node, depth, entries)
        raise CorruptNode(f"node {old_key.hex()} is recorded as internal but is not one")

    def _load_leaf(self, node_key: bytes) -> LeafNode:
        """A leaf from the cache (if written lately) or the store (not cached: it is replaced)."""
        cached = self._cache.get(node_key)
        if isinstance(cached, LeafNode):
            return cached
        data = self._reader.get_node(node_key)
        if data is None:
            raise MissingNode(node_key)
        leaf = decode_node(data)
        if not isinstance(leaf, LeafNode):
            raise CorruptNode(f"node {node_key.hex()} is recorded as a leaf but is not one")
        return leaf

    def _update_leaf(
        self, writer: _BatchWriter, old: Child, old_key: bytes, leaf: LeafNode, depth: int,
        entries: list[_Entry],
    ) -> Child | None:
        if len(entries) == 1:  # the common case, decided without building lists
            key_hash, value_hash = entries[0]
            if key_hash == leaf.key_hash:
                if value_hash == leaf.value_hash:
                    return old
                writer.stale.append(old_key)
                if value_hash is None:
                    return None
                return writer.write_leaf(key_hash, value_hash, depth)
            if value_hash is None:
                return old
            writer.stale.append(old_key)
            pair = [(key_hash, value_hash), (leaf.key_hash, leaf.value_hash)]
            pair.sort()
            return self._build(writer, pair, depth)
        survivors: list[tuple[bytes, bytes]] = [(k, v) for k, v in entries if v is not None]
        if leaf.key_hash not in [key for key, _ in entries]:
            survivors.append((leaf.key_hash, leaf.value_hash))
            survivors.sort()
        if survivors == [(leaf.key_hash, leaf.value_hash)]:
            return old
        writer.stale.append(old_key)
        return self._build(writer, survivors, depth)

    def _update_internal(
        self, writer: _BatchWriter, old: Child, old_key: bytes, node: InternalNode,
        depth: int, entries: list[_Entry],
    ) -> Child | None:
        children = list(node.children)
        if len(entries) == 1:  # the common case below the top levels: one child to visit
            nibble = nibble_at(entries[0][0], depth)
            previous = children[nibble]
            updated = self._update(writer, previous, depth + 1, entries)
            if updated is previous:
                return old
            children[nibble] = updated
        else:
            changed = False
            for nibble, group in _group_by_nibble(entries, depth):
                previous = children[nibble]
                updated = self._update(writer, previous, depth + 1, group)
                if updated is not previous:
                    children[nibble] = updated
                    changed = True
            if not changed:
                return old
        writer.stale.append(old_key)
        if RADIX - children.count(None) <= 1:
            present = [(n, c) for n, c in enumerate(children) if c is not None]
            if not present:
                return None
            if present[0][1].is_leaf:
                return self._lift_leaf(writer, entries[0][0], depth, *present[0])
        return writer.write(InternalNode(tuple(children)), entries[0][0], depth)

    def _lift_leaf(
        self, writer: _BatchWriter, path_key: bytes, depth: int, nibble: int, child: Child
    ) -> Child:
        """Move the only leaf left under this path up to this path."""
        child_key = encode_node_key(
            child.version, _child_path_key(path_key, depth, nibble), depth + 1
        )
        if child.version == writer.version:  # written by this batch: unwrite it
            leaf = writer.written.pop(child_key)
            del writer.new_nodes[child_key]
        else:
            leaf = self._load_leaf(child_key)
            writer.stale.append(child_key)
        if not isinstance(leaf, LeafNode):
            raise CorruptNode(f"node {child_key.hex()} is recorded as a leaf but is not one")
        return writer.write(leaf, path_key, depth)

    def _build(self, writer: _BatchWriter, leaves: list[tuple[bytes, bytes]], depth: int) -> (
        Child | None
    ):
        """Write a fresh subtree holding exactly ``leaves`` (sorted, distinct key hashes)."""
        if not leaves:
            return None
        if len(leaves) == 1:
            key_hash, value_hash = leaves[0]
            return writer.write_leaf(key_hash, value_hash, depth)
        children: list[Child | None] = [None] * RADIX
        for nibble, group in _group_by_nibble(leaves, depth):
            children[nibble] = self._build(writer, group, depth + 1)
        return writer.write(InternalNode(tuple(children)), leaves[0][0], depth)


def _descend_slots(
    node: InternalNode, nibble: int, siblings: list[bytes]
) -> tuple[int, Child] | None:
    """Walk the binary tree inside ``node`` towards ``nibble``, appending sibling hashes.

    Returns the (nibble, child) where the walk leaves the node, or None when it
    ends at an empty subtree.
    """
    present = [(n, c) for n, c in enumerate(node.children) if c is not None]
    low, width = 0, RADIX
    while present:
        if len(present) == 1 and (width == 1 or present[0][1].is_leaf):
            return present[0]
        width >>= 1
        middle = low + width
        left = [entry for entry in present if entry[0] < middle]
        right = present[len(left) :]
        if nibble < middle:
            siblings.append(slot_range_hash(right, middle, width))
            present = left
        else:
            siblings.append(slot_range_hash(left, low, width))
            present, low = right, middle
    return None


def _check_version(version: object, name: str) -> None:
    if isinstance(version, bool) or not isinstance(version, int):
        raise TreeInputError(f"{name} must be an int, got {type(version).__name__}")
    if not 0 <= version <= VERSION_MAX:
        raise TreeInputError(f"{name} {version} is outside 0 .. 2^64-1")


def _check_key_hash(key_hash: object) -> None:
    if not isinstance(key_hash, bytes) or len(key_hash) != HASH_BYTES:
        raise TreeInputError("key hash must be 32 bytes")
