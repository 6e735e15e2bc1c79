"""Domain-separated SHA-256 and the binary Merkle root of a list of hashes.

Every hash of the protocol is ``sha256(DOMAIN + canonical bytes)`` with a
domain per structure, so bytes of one type can never be passed off as
another's. No domain is a prefix of another (tests check it), so the
concatenation is unambiguous.

The Merkle tree is RFC 6962's (Certificate Transparency): over leaves
``d[0..n)`` (here: 32-byte hashes),

    root([])     = sha256(b"")
    root([d0])   = sha256(0x00 + d0)
    root(d[0:n]) = sha256(0x01 + root(d[0:k]) + root(d[k:n]))
                   where k is the largest power of two smaller than n.

The 0x00 / 0x01 prefixes keep leaves and inner nodes apart (no second-preimage
trick), and the split rule gives every list length exactly one tree.

Determinism: pure functions of their bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

TX_SIGNING_DOMAIN: Final = b"zonechain/tx/v1"
"""Prefix of the bytes a sender signs: domain + canonical Transaction."""

TX_HASH_DOMAIN: Final = b"zonechain/tx-hash/v1"
"""Transaction id: sha256(domain + canonical SignedTransaction)."""

BLOCK_HASH_DOMAIN: Final = b"zonechain/block/v1"
"""Block hash: sha256(domain + canonical BlockHeader)."""

VOTE_SIGNING_DOMAIN: Final = b"zonechain/vote/v1"
VOTE_HASH_DOMAIN: Final = b"zonechain/vote-hash/v1"
PROPOSAL_SIGNING_DOMAIN: Final = b"zonechain/proposal/v1"
PROPOSAL_HASH_DOMAIN: Final = b"zonechain/proposal-hash/v1"
COMMIT_HASH_DOMAIN: Final = b"zonechain/commit/v1"
EVIDENCE_HASH_DOMAIN: Final = b"zonechain/evidence/v1"
RECEIPT_HASH_DOMAIN: Final = b"zonechain/receipt/v1"
EVENT_HASH_DOMAIN: Final = b"zonechain/event/v1"
ACCOUNT_ADDRESS_DOMAIN: Final = b"zonechain/account/v1"
CONTRACT_ADDRESS_DOMAIN: Final = b"zonechain/contract/v1"
ADDRESS_CHECKSUM_DOMAIN: Final = b"zonechain/address-checksum/v1"
QUERY_SIGNING_DOMAIN: Final = b"zonechain/query/v1"
"""Signed by a reader: domain + query bytes (node/query_auth.py); never in a block."""

ALL_DOMAINS: Final = (
    TX_SIGNING_DOMAIN, TX_HASH_DOMAIN, BLOCK_HASH_DOMAIN, VOTE_SIGNING_DOMAIN,
    VOTE_HASH_DOMAIN, PROPOSAL_SIGNING_DOMAIN, PROPOSAL_HASH_DOMAIN, COMMIT_HASH_DOMAIN,
    EVIDENCE_HASH_DOMAIN, RECEIPT_HASH_DOMAIN, EVENT_HASH_DOMAIN, ACCOUNT_ADDRESS_DOMAIN,
    CONTRACT_ADDRESS_DOMAIN, ADDRESS_CHECKSUM_DOMAIN, QUERY_SIGNING_DOMAIN,
)

ZERO_HASH: Final = bytes(32)
"""Stands for "nothing" where a hash is required: the previous block hash at
height 1, the last-commit hash when there is no last commit."""

MERKLE_LEAF_PREFIX: Final = b"\x00"
MERKLE_NODE_PREFIX: Final = b"\x01"


def domain_hash(domain: bytes, data: bytes) -> bytes:
    """sha256(domain + data)."""
    digest = hashlib.sha256(domain)
    digest.update(data)
    return digest.digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The RFC 6962 Merkle root of ``leaves`` (see the module docstring)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = [hashlib.sha256(MERKLE_LEAF_PREFIX + leaf).digest() for leaf in leaves]
    return _root_of_nodes(level)


def _root_of_nodes(nodes: Sequence[bytes]) -> bytes:
    """RFC 6962's split at the largest power of two, computed bottom-up: neighbours
    are paired left to right and an odd last node rises unpaired, which builds
    the same tree (tests/node/test_types_hashing.py holds it to the recursive
    definition) without a recursion over slices (a block hashes two roots over
    all its txs)."""
    level = list(nodes)
    while len(level) > 1:
        paired = [hashlib.sha256(MERKLE_NODE_PREFIX + level[index] + level[index + 1]).digest()
                  for index in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            paired.append(level[-1])
        level = paired
    return level[0]


def _largest_power_of_two_below(count: int) -> int:
    """The largest power of two strictly smaller than ``count`` (count >= 2)."""
    return 1 << ((count - 1).bit_length() - 1)


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of ``leaves[index]``: sibling hashes from the leaf up to the root."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf index {index} out of range for {len(leaves)} leaves")
    nodes = [hashlib.sha256(MERKLE_LEAF_PREFIX + leaf).digest() for leaf in leaves]
    path: list[bytes] = []
    _collect_path(nodes, index, path)
    return path


def _collect_path(nodes: Sequence[bytes], index: int, path: list[bytes]) -> None:
    if len(nodes) == 1:
        return
    split = _largest_power_of_two_below(len(nodes))
    if index < split:
        _collect_path(nodes[:split], index, path)
        path.append(_root_of_nodes(nodes[split:]))
    else:
        _collect_path(nodes[split:], index - split, path)
        path.append(_root_of_nodes(nodes[:split]))


def verify_merkle_proof(
    leaf: bytes, index: int, leaf_count: int, path: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``path`` proves ``leaf`` at ``index`` of ``leaf_count`` leaves under ``root``."""
    if not 0 <= index < leaf_count:
        return False
    sides = _sides(index, leaf_count)
    if len(sides) != len(path):
        return False
    node = hashlib.sha256(MERKLE_LEAF_PREFIX + leaf).digest()
    for sibling_is_right, sibling in zip(reversed(sides), path, strict=True):
        if sibling_is_right:
            node = hashlib.sha256(MERKLE_NODE_PREFIX + node + sibling).digest()
        else:
            node = hashlib.sha256(MERKLE_NODE_PREFIX + sibling + node).digest()
    return node == root


def _sides(index: int, count: int) -> list[bool]:
    """From the root down: True where the proven leaf is in the left subtree."""
    sides: list[bool] = []
    while count > 1:
        split = _largest_power_of_two_below(count)
        if index < split:
            sides.append(True)
            count = split
        else:
            sides.append(False)
            index -= split
            count -= split
    return sides
