"""Hash domains, the RFC 6962 Merkle root (against a readable reference), and addresses."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.node.types import (
    InvalidAddress,
    account_address,
    contract_address,
    format_address,
    parse_address,
)
from zonechain.node.types.hashing import (
    ALL_DOMAINS,
    merkle_proof,
    merkle_root,
    verify_merkle_proof,
)

LEAVES = st.lists(st.binary(min_size=32, max_size=32), max_size=40)


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written as literally as possible."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(
        b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])
    ).digest()


def test_no_domain_is_a_prefix_of_another() -> None:
    assert len(set(ALL_DOMAINS)) == len(ALL_DOMAINS)
    for a in ALL_DOMAINS:
        for b in ALL_DOMAINS:
            assert a == b or not b.startswith(a), (a, b)


@settings(max_examples=60)
@given(LEAVES)
def test_merkle_root_matches_reference(leaves: list[bytes]) -> None:
    assert merkle_root(leaves) == reference_root(leaves)


def test_merkle_root_matches_reference_at_every_size_up_to_a_large_block() -> None:
    leaves = [i.to_bytes(32, "big") for i in range(300)]
    for count in range(1, len(leaves) + 1):
        assert merkle_root(leaves[:count]) == reference_root(leaves[:count]), count


def test_merkle_root_small_cases() -> None:
    a, b, c = (bytes([i]) * 32 for i in (1, 2, 3))

    def leaf(x: bytes) -> bytes:
        return hashlib.sha256(b"\x00" + x).digest()

    def node(x: bytes, y: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + x + y).digest()

    assert merkle_root([a]) == leaf(a)
    assert merkle_root([a, b]) == node(leaf(a), leaf(b))
    assert merkle_root([a, b, c]) == node(node(leaf(a), leaf(b)), leaf(c))
    assert merkle_root([a, b]) != merkle_root([b, a])
    # A leaf equal to an inner node's preimage cannot stand in for the subtree.
    assert merkle_root([node(leaf(a), leaf(b))]) != merkle_root([a, b])


@settings(max_examples=40)
@given(LEAVES.filter(bool), st.data())
def test_merkle_proofs_verify_and_reject_tampering(
    leaves: list[bytes], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    root = merkle_root(leaves)
    path = merkle_proof(leaves, index)
    assert verify_merkle_proof(leaves[index], index, len(leaves), path, root)
    assert not verify_merkle_proof(b"\xff" * 33, index, len(leaves), path, root)
    if path:
        tampered = [bytes(32), *path[1:]]
        assert not verify_merkle_proof(leaves[index], index, len(leaves), tampered, root)
        assert not verify_merkle_proof(leaves[index], index, len(leaves), path[:-1], root)
    assert not verify_merkle_proof(leaves[index], len(leaves), len(leaves), path, root)


def test_merkle_proof_index_out_of_range() -> None:
    with pytest.raises(IndexError):
        merkle_proof([bytes(32)], 1)


# --- addresses -------------------------------------------------------------------


@settings(max_examples=40)
@given(st.binary(min_size=20, max_size=20))
def test_address_text_round_trip(address: bytes) -> None:
    text = format_address(address)
    assert len(text) == 50 and text.startswith("zc")
    assert parse_address(text) == address


@settings(max_examples=40)
@given(st.binary(min_size=20, max_size=20), st.integers(2, 49), st.sampled_from("0123456789abcdef"))
def test_one_wrong_character_is_caught(address: bytes, position: int, digit: str) -> None:
    text = format_address(address)
    typo = text[:position] + digit + text[position + 1:]
    if typo == text:
        return
    with pytest.raises(InvalidAddress, match="checksum"):
        parse_address(typo)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "start with"),
        ("0x" + "00" * 24, "start with"),
        ("zc" + "00" * 23, "50 characters"),
        ("zc" + "AB" * 24, "lowercase hex"),
        ("zc" + "0g" * 24, "lowercase hex"),
        ("zc" + "00" * 24, "checksum"),
    ],
)
def test_bad_address_text_is_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidAddress, match=reason):
        parse_address(text)


def test_addresses_are_domain_separated_and_depend_on_every_input() -> None:
    key = bytes(range(32))
    account = account_address(key)
    assert account == hashlib.sha256(b"zonechain/account/v1" + key).digest()[:20]
    first = contract_address(account, 0)
    assert first == hashlib.sha256(
        b"zonechain/contract/v1" + account + (0).to_bytes(8, "little")
    ).digest()[:20]
    assert contract_address(account, 1) != first
    assert contract_address(bytes(20), 0) != first
    with pytest.raises(ValueError):
        account_address(bytes(31))
    with pytest.raises(ValueError):
        contract_address(account, 2**64)
