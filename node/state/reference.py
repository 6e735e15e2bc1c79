"""The state tree's root and proofs, computed from scratch by the plain definition.

This is the readable specification the fast tree (``tree.py``) is tested
against after every random batch. It is deliberately slow: it recomputes
everything from the full key/value map, one bit of the key hash at a time.

Definition (the same as ``proof.py`` states):

    hash(no keys)          = EMPTY_SUBTREE_HASH
    hash(exactly one key)  = leaf_hash(key_hash, value_hash)
    hash(several keys)     = internal_hash(hash(keys whose next bit is 0),
                                           hash(keys whose next bit is 1))

Determinism: leaves are sorted by key hash before use (not needed for the
result, but nothing here depends on dict order).
"""

from __future__ import annotations

from collections.abc import Mapping

from zonechain.node.state.proof import (
    EMPTY_SUBTREE_HASH,
    ProofLeaf,
    StateProof,
    hash_key,
    hash_value,
    internal_hash,
    key_hash_bit,
    leaf_hash,
)

_Leaf = tuple[bytes, bytes]


def reference_root(items: Mapping[bytes, bytes]) -> bytes:
    """Root hash of the tree holding ``items`` (state key -> value)."""
    return reference_root_hashed({hash_key(k): hash_value(v) for k, v in items.items()})


def reference_root_hashed(leaves: Mapping[bytes, bytes]) -> bytes:
    """Root hash of the tree holding ``leaves`` (key hash -> value hash)."""
    return _subtree_hash(sorted(leaves.items()), 0)


def reference_proof_hashed(leaves: Mapping[bytes, bytes], key_hash: bytes) -> StateProof:
    """The proof for ``key_hash`` (present or not) in the tree holding ``leaves``."""
    subtree = sorted(leaves.items())
    siblings: list[bytes] = []
    depth = 0
    while len(subtree) > 1:
        left, right = _split(subtree, depth)
        if key_hash_bit(key_hash, depth):
            siblings.append(_subtree_hash(left, depth + 1))
            subtree = right
        else:
            siblings.append(_subtree_hash(right, depth + 1))
            subtree = left
        depth += 1
    leaf = ProofLeaf(*subtree[0]) if subtree else None
    return StateProof(tuple(siblings), leaf)


def _subtree_hash(leaves: list[_Leaf], depth: int) -> bytes:
    if not leaves:
        return EMPTY_SUBTREE_HASH
    if len(leaves) == 1:
        return leaf_hash(*leaves[0])
    left, right = _split(leaves, depth)
    return internal_hash(_subtree_hash(left, depth + 1), _subtree_hash(right, depth + 1))


def _split(leaves: list[_Leaf], depth: int) -> tuple[list[_Leaf], list[_Leaf]]:
    left = [leaf for leaf in leaves if key_hash_bit(leaf[0], depth) == 0]
    right = [leaf for leaf in leaves if key_hash_bit(leaf[0], depth) == 1]
    return left, right
