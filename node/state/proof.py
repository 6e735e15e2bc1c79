"""State proofs: the hashing rules of the state tree, the proof format, and its verifier.

This module is self-contained on purpose (it imports only ``hashlib`` and the
standard library): the SDK imports it to check values read from a node that
may lie, and it must be readable as the specification of what a state root
commits to.

What a state root commits to
----------------------------
Logically the state tree is a binary sparse Merkle tree over the 256-bit
sha256 of every state key (the radix-16 Jellyfish tree in ``tree.py`` stores
it in nodes of 16 children but computes exactly these hashes):

- an empty subtree hashes to ``EMPTY_SUBTREE_HASH`` (32 zero bytes);
- a subtree holding exactly one key hashes to that key's leaf hash
  ``sha256(LEAF_DOMAIN + key_hash + value_hash)`` wherever it sits (a lone
  leaf is never pushed deeper than the first bit that sets it apart);
- any other subtree hashes to ``sha256(INTERNAL_DOMAIN + left + right)``,
  ``left`` being the subtree whose next key-hash bit is 0.

The domain bytes differ, so a leaf can never pass as an internal node or the
reverse. The root of the empty tree is ``EMPTY_ROOT_HASH``.

A proof for key ``K`` (key hash ``k``) walks from the root along the bits of
``k``; ``siblings`` are the hashes of the subtrees beside that path, root side
first. The walk ends at depth ``len(siblings)``, at:

- the leaf of ``K`` (inclusion);
- an empty subtree (``leaf`` is None; non-inclusion);
- the leaf of another key whose hash shares the first ``len(siblings)`` bits
  with ``k`` (non-inclusion: had ``K`` been present, that leaf would have been
  pushed deeper).

Encoding (canonical: one proof has exactly one encoding, decoding accepts
nothing else)
------------------------------------------------------------------------
All integers are fixed-width little-endian::

    u8   format version, PROOF_FORMAT_VERSION (= 1)
    u8   leaf flag: 0 = no leaf, 1 = leaf follows
    [if flag = 1]  32 B leaf key hash, then 32 B leaf value hash
    u16  sibling count n, 0 <= n <= MAX_SIBLINGS (= 256)
    n x 32 B  sibling hashes, root side first

No trailing bytes are allowed. Every hash is exactly 32 bytes, so the count is
the only length prefix needed. Malformed bytes raise ``ProofDecodeError``
(a ``ProofError``), never ``IndexError`` or ``struct.error``.

Determinism: proofs and hashes depend only on key and value bytes; nothing
here iterates over unordered containers or uses floats.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

HASH_BYTES = 32
# Key hashes are sha256: 256 bits, so a path has at most 256 binary steps.
KEY_HASH_BITS = HASH_BYTES * 8
MAX_SIBLINGS = KEY_HASH_BITS
# A placeholder, not a hash: no sha256 output is expected to be all zeros, and
# a fixed constant lets anyone recognise an empty tree at a glance.
EMPTY_SUBTREE_HASH = bytes(HASH_BYTES)
EMPTY_ROOT_HASH = EMPTY_SUBTREE_HASH
# Domain separation prefixes: a leaf preimage and an internal preimage can
# never be confused, whatever the 64 bytes after the prefix.
LEAF_DOMAIN = b"\x00"
INTERNAL_DOMAIN = b"\x01"
PROOF_FORMAT_VERSION = 1
_LEAF_ABSENT = 0
_LEAF_PRESENT = 1


class ProofError(Exception):
    """A proof does not show what it was asked to show (or cannot be read at all)."""


class ProofDecodeError(ProofError):
    """Proof bytes are not a canonical encoding of a ``StateProof``."""


def hash_key(key: bytes) -> bytes:
    """The 32-byte position of a state key in the tree."""
    return hashlib.sha256(key).digest()


def hash_value(value: bytes) -> bytes:
    """The 32-byte digest of a value that a leaf commits to."""
    return hashlib.sha256(value).digest()


def leaf_hash(key_hash: bytes, value_hash: bytes) -> bytes:
    return hashlib.sha256(LEAF_DOMAIN + key_hash + value_hash).digest()


def internal_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(INTERNAL_DOMAIN + left + right).digest()


def key_hash_bit(key_hash: bytes, index: int) -> int:
    """Bit ``index`` of a key hash, most significant bit of byte 0 first."""
    return (key_hash[index >> 3] >> (7 - (index & 7))) & 1


def common_prefix_bits(first: bytes, second: bytes) -> int:
    """How many leading bits two equal-length hashes share."""
    for index in range(len(first)):
        difference = first[index] ^ second[index]
        if difference:
            return index * 8 + (8 - difference.bit_length())
    return len(first) * 8


@dataclass(frozen=True, slots=True)
class ProofLeaf:
    """The leaf a proof's path ends at."""

    key_hash: bytes
    value_hash: bytes

    def __post_init__(self) -> None:
        if len(self.key_hash) != HASH_BYTES or len(self.value_hash) != HASH_BYTES:
            raise ProofError("a proof leaf holds two 32-byte hashes")


@dataclass(frozen=True, slots=True)
class StateProof:
    """Sibling hashes from the root down (root side first) and the leaf at the end, if any."""

    siblings: tuple[bytes, ...]
    leaf: ProofLeaf | None

    def __post_init__(self) -> None:
        if len(self.siblings) > MAX_SIBLINGS:
            raise ProofError(f"a proof has at most {MAX_SIBLINGS} siblings")
        if any(len(sibling) != HASH_BYTES for sibling in self.siblings):
            raise ProofError("every sibling is a 32-byte hash")

    def encode(self) -> bytes:
        parts = [bytes([PROOF_FORMAT_VERSION])]
        if self.leaf is None:
            parts.append(bytes([_LEAF_ABSENT]))
        else:
            parts += [bytes([_LEAF_PRESENT]), self.leaf.key_hash, self.leaf.value_hash]
        parts.append(len(self.siblings).to_bytes(2, "little"))
        parts.extend(self.siblings)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> StateProof:
        return decode_proof(data)


def decode_proof(data: bytes) -> StateProof:
    """Parse the canonical encoding; anything else raises ``ProofDecodeError``."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProofDecodeError("proof must be bytes")
    data = bytes(data)
    if len(data) < 2:
        raise ProofDecodeError("proof is shorter than its 2-byte header")
    if data[0] != PROOF_FORMAT_VERSION:
        raise ProofDecodeError(f"unknown proof format version {data[0]}")
    position = 2
    leaf: ProofLeaf | None = None
    if data[1] == _LEAF_PRESENT:
        position += 2 * HASH_BYTES
        if len(data) < position:
            raise ProofDecodeError("proof is truncated inside its leaf")
        leaf = ProofLeaf(data[2 : 2 + HASH_BYTES], data[2 + HASH_BYTES : position])
    elif data[1] != _LEAF_ABSENT:
        raise ProofDecodeError(f"leaf flag must be 0 or 1, got {data[1]}")
    if len(data) < position + 2:
        raise ProofDecodeError("proof is truncated before its sibling count")
    count = int.from_bytes(data[position : position + 2], "little")
    position += 2
    if count > MAX_SIBLINGS:
        raise ProofDecodeError(f"sibling count {count} exceeds {MAX_SIBLINGS}")
    end = position + count * HASH_BYTES
    if len(data) != end:
        raise ProofDecodeError(f"proof should be {end} bytes for {count} siblings, is {len(data)}")
    siblings = tuple(data[start : start + HASH_BYTES] for start in range(position, end, HASH_BYTES))
    return StateProof(siblings=siblings, leaf=leaf)


def verify_proof(root_hash: bytes, key: bytes, value: bytes | None, proof: StateProof) -> None:
    """Check that under ``root_hash`` the state key ``key`` holds ``value`` (None: absent).

    Returns None when the proof shows exactly that; raises ``ProofError`` otherwise.
    """
    if not isinstance(key, bytes) or not (value is None or isinstance(value, bytes)):
        raise ProofError("key must be bytes and value bytes or None")
    value_hash = None if value is None else hash_value(value)
    verify_proof_hashed(root_hash, hash_key(key), value_hash, proof)


def verify_proof_hashed(
    root_hash: bytes, key_hash: bytes, value_hash: bytes | None, proof: StateProof
) -> None:
    """``verify_proof`` for a key hash and value hash already computed."""
    if len(root_hash) != HASH_BYTES or len(key_hash) != HASH_BYTES:
        raise ProofError("root hash and key hash must be 32 bytes")
    if not isinstance(proof, StateProof):
        raise ProofError("proof must be a StateProof")
    _check_path_end(key_hash, value_hash, proof)
    node = EMPTY_SUBTREE_HASH if proof.leaf is None else leaf_hash(
        proof.leaf.key_hash, proof.leaf.value_hash
    )
    for depth in range(len(proof.siblings) - 1, -1, -1):
        sibling = proof.siblings[depth]
        if key_hash_bit(key_hash, depth):
            node = internal_hash(sibling, node)
        else:
            node = internal_hash(node, sibling)
    if node != root_hash:
        raise ProofError("proof does not lead to the given root hash")


def _check_path_end(key_hash: bytes, value_hash: bytes | None, proof: StateProof) -> None:
    """The leaf at the end of the path must say what the caller claims."""
    leaf = proof.leaf
    if value_hash is not None:
        if leaf is None or leaf.key_hash != key_hash:
            raise ProofError("proof shows the key absent, a value was claimed")
        if leaf.value_hash != value_hash:
            raise ProofError("proof shows a different value for the key")
        return
    if leaf is None:
        return
    if leaf.key_hash == key_hash:
        raise ProofError("proof shows the key present, absence was claimed")
    if common_prefix_bits(leaf.key_hash, key_hash) < len(proof.siblings):
        raise ProofError("proof leaf does not sit on the key's path")
