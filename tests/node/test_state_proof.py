"""Proof encoding is canonical and strict; verification rejects anything it should."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.node.state.proof import (
    EMPTY_ROOT_HASH,
    INTERNAL_DOMAIN,
    LEAF_DOMAIN,
    MAX_SIBLINGS,
    ProofDecodeError,
    ProofError,
    ProofLeaf,
    StateProof,
    common_prefix_bits,
    decode_proof,
    hash_key,
    hash_value,
    internal_hash,
    leaf_hash,
    verify_proof,
    verify_proof_hashed,
)

hashes = st.binary(min_size=32, max_size=32)
proofs = st.builds(
    StateProof,
    siblings=st.lists(hashes, max_size=12).map(tuple),
    leaf=st.none() | st.builds(ProofLeaf, key_hash=hashes, value_hash=hashes),
)


@settings(max_examples=200)
@given(proofs)
def test_encoding_round_trips(proof: StateProof) -> None:
    encoded = proof.encode()
    assert decode_proof(encoded) == proof
    assert StateProof.decode(encoded).encode() == encoded


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_decoding_garbage_raises_only_the_typed_error(data: bytes) -> None:
    try:
        proof = decode_proof(data)
    except ProofDecodeError:
        return
    assert proof.encode() == data  # whatever decodes is canonical


@settings(max_examples=100)
@given(proofs, st.data())
def test_truncated_or_extended_encodings_are_refused(
    proof: StateProof, data: st.DataObject
) -> None:
    encoded = proof.encode()
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(ProofDecodeError):
        decode_proof(encoded[:cut])
    with pytest.raises(ProofDecodeError):
        decode_proof(encoded + b"\x00")


def test_header_fields_are_checked() -> None:
    good = StateProof((), None).encode()
    assert good == b"\x01\x00\x00\x00"
    with pytest.raises(ProofDecodeError, match="format version"):
        decode_proof(b"\x02" + good[1:])
    with pytest.raises(ProofDecodeError, match="leaf flag"):
        decode_proof(b"\x01\x02\x00\x00")
    too_many = b"\x01\x00" + (MAX_SIBLINGS + 1).to_bytes(2, "little")
    with pytest.raises(ProofDecodeError, match="exceeds"):
        decode_proof(too_many + bytes(32 * (MAX_SIBLINGS + 1)))
    with pytest.raises(ProofDecodeError):
        decode_proof("not bytes")  # type: ignore[arg-type]


def test_malformed_proof_objects_are_refused() -> None:
    with pytest.raises(ProofError):
        StateProof((b"short",), None)
    with pytest.raises(ProofError):
        ProofLeaf(b"\x00" * 31, b"\x00" * 32)


def test_empty_tree_proves_absence_only() -> None:
    empty = StateProof((), None)
    verify_proof(EMPTY_ROOT_HASH, b"any key", None, empty)
    with pytest.raises(ProofError, match="absent"):
        verify_proof(EMPTY_ROOT_HASH, b"any key", b"value", empty)


def test_single_leaf_tree() -> None:
    key, value = b"k", b"v"
    root = leaf_hash(hash_key(key), hash_value(value))
    proof = StateProof((), ProofLeaf(hash_key(key), hash_value(value)))
    verify_proof(root, key, value, proof)
    with pytest.raises(ProofError, match="different value"):
        verify_proof(root, key, b"w", proof)
    with pytest.raises(ProofError, match="present"):
        verify_proof(root, key, None, proof)
    verify_proof(root, b"other", None, proof)  # the lone leaf shows any other key absent


def test_domains_separate_leaves_from_internal_nodes() -> None:
    left, right = hash_key(b"a"), hash_key(b"b")
    assert leaf_hash(left, right) != internal_hash(left, right)
    assert LEAF_DOMAIN != INTERNAL_DOMAIN


def test_internal_node_cannot_pass_as_a_leaf() -> None:
    """Claiming an internal node's two children as a (key hash, value hash) leaf fails."""
    key_a, key_b = b"\x00" * 32, b"\x80" + b"\x00" * 31
    leaf_a, leaf_b = leaf_hash(key_a, b"\x01" * 32), leaf_hash(key_b, b"\x02" * 32)
    root = internal_hash(leaf_a, leaf_b)
    fake = StateProof((), ProofLeaf(leaf_a, leaf_b))
    with pytest.raises(ProofError):
        verify_proof_hashed(root, leaf_a, leaf_b, fake)


def test_absence_leaf_must_share_the_path() -> None:
    key_hash = b"\x00" * 32
    other = b"\x40" + b"\x00" * 31  # differs from key_hash at bit 1
    assert common_prefix_bits(key_hash, other) == 1
    leaf = ProofLeaf(other, b"\x01" * 32)
    sibling = b"\x09" * 32
    root_depth_1 = internal_hash(leaf_hash(other, b"\x01" * 32), sibling)
    verify_proof_hashed(root_depth_1, key_hash, None, StateProof((sibling,), leaf))
    two_deep = StateProof((sibling, sibling), leaf)
    with pytest.raises(ProofError, match="path"):
        verify_proof_hashed(root_depth_1, key_hash, None, two_deep)


def test_bad_argument_types_raise_proof_error() -> None:
    with pytest.raises(ProofError):
        verify_proof(EMPTY_ROOT_HASH, "key", None, StateProof((), None))  # type: ignore[arg-type]
    with pytest.raises(ProofError):
        verify_proof(b"short", b"key", None, StateProof((), None))
    with pytest.raises(ProofError):
        verify_proof(EMPTY_ROOT_HASH, b"key", None, b"bytes")  # type: ignore[arg-type]
