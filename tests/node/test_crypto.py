"""Keys, signing and verification: transactions, votes, proposals, the verified cache."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.node.test_types_strategies import TRANSACTIONS
from zonechain.node import crypto
from zonechain.node.crypto import (
    InvalidSignature,
    PrivateKey,
    VerifiedSignatureCache,
    sign_proposal,
    sign_transaction,
    sign_vote,
    verify_proposal,
    verify_signature,
    verify_transaction,
    verify_vote,
)
from zonechain.node.types import (
    CallPayload,
    SignedTransaction,
    Transaction,
    VoteType,
    account_address,
)

KEY = PrivateKey.from_seed(bytes([1]) * 32)
OTHER = PrivateKey.from_seed(bytes([2]) * 32)


def make_tx(nonce: int = 0, key: PrivateKey = KEY) -> Transaction:
    return Transaction("chain", key.public_key, nonce, 1_000, "zone",
                       CallPayload(bytes(20), "transfer", b"args"))


def test_keys() -> None:
    assert len(KEY.public_key) == 32
    assert KEY.address == account_address(KEY.public_key)
    assert PrivateKey.from_seed(KEY.seed).public_key == KEY.public_key
    assert PrivateKey.generate().public_key != PrivateKey.generate().public_key
    assert KEY.seed.hex() not in repr(KEY)
    with pytest.raises(ValueError, match="32 bytes"):
        PrivateKey(bytes(31))


def test_signing_is_deterministic_and_agrees_with_cryptography() -> None:
    tx = make_tx()
    signed = sign_transaction(tx, KEY)
    assert signed.signature == sign_transaction(tx, KEY).signature
    # An independent implementation accepts our signature over our signing bytes.
    Ed25519PublicKey.from_public_bytes(KEY.public_key).verify(
        signed.signature, b"zonechain/tx/v1" + tx.encode()
    )


@settings(max_examples=25)
@given(TRANSACTIONS)
def test_any_transaction_signs_and_verifies(tx: Transaction) -> None:
    tx = dataclasses.replace(tx, sender=KEY.public_key)
    verify_transaction(sign_transaction(tx, KEY), cache=None)


def test_sender_must_match_key() -> None:
    with pytest.raises(ValueError, match="sender"):
        sign_transaction(make_tx(key=OTHER), KEY)


def test_bad_signatures_are_refused() -> None:
    signed = sign_transaction(make_tx(), KEY)
    flipped = bytearray(signed.signature)
    flipped[10] ^= 1
    with pytest.raises(InvalidSignature):
        verify_transaction(SignedTransaction(signed.tx, bytes(flipped)), cache=None)
    # The signature of another transaction (other nonce) does not carry over.
    other = sign_transaction(make_tx(nonce=1), KEY)
    with pytest.raises(InvalidSignature):
        verify_transaction(SignedTransaction(signed.tx, other.signature), cache=None)
    # Same transaction, someone else's key claiming to be the sender.
    forged = SignedTransaction(signed.tx, OTHER.sign(signed.tx.signing_bytes()))
    with pytest.raises(InvalidSignature):
        verify_transaction(forged, cache=None)
    # Signing the bare encoding (no domain prefix) is not a transaction signature.
    undomained = SignedTransaction(signed.tx, KEY.sign(signed.tx.encode()))
    with pytest.raises(InvalidSignature):
        verify_transaction(undomained, cache=None)


def test_non_canonical_signature_is_refused() -> None:
    # S + L (the group order) is the same point arithmetic but a non-canonical encoding.
    order = 2**252 + 27742317777372353535851937790883648493
    signed = sign_transaction(make_tx(), KEY)
    s = int.from_bytes(signed.signature[32:], "little") + order
    if s < 2**256:
        malleated = signed.signature[:32] + s.to_bytes(32, "little")
        assert not verify_signature(KEY.public_key, signed.tx.signing_bytes(), malleated)


def test_verify_signature_refuses_bad_sizes() -> None:
    assert not verify_signature(bytes(31), b"m", bytes(64))
    assert not verify_signature(KEY.public_key, b"m", bytes(63))
    assert not verify_signature(bytes(32), b"m", bytes(64))


def test_cache_verifies_each_transaction_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = crypto.verify_signature

    def counting(public_key: bytes, message: bytes, signature: bytes) -> bool:
        calls.append(message)
        return real(public_key, message, signature)

    monkeypatch.setattr(crypto, "verify_signature", counting)
    cache = VerifiedSignatureCache(entries_max=2)
    signed = sign_transaction(make_tx(), KEY)
    verify_transaction(signed, cache)
    verify_transaction(SignedTransaction.decode(signed.encode()), cache)
    assert len(calls) == 1
    # A cached tx id does not vouch for different signature bytes.
    bad = SignedTransaction(signed.tx, bytes(64))
    for _ in range(2):
        with pytest.raises(InvalidSignature):
            verify_transaction(bad, cache)
    assert len(calls) == 3
    assert bad.hash not in cache


def test_cache_is_a_bounded_lru() -> None:
    cache = VerifiedSignatureCache(entries_max=2)
    a, b, c = (bytes([i]) * 32 for i in (1, 2, 3))
    cache.add(a)
    cache.add(b)
    assert a in cache  # touch a: b is now least recent
    cache.add(c)
    assert len(cache) == 2
    assert a in cache and c in cache and b not in cache
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError):
        VerifiedSignatureCache(entries_max=0)


@settings(max_examples=10)
@given(st.sampled_from(VoteType), st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1),
       st.none() | st.binary(min_size=32, max_size=32))
def test_votes_sign_and_verify(vote_type: VoteType, height: int, round_: int,
                               block_hash: bytes | None) -> None:
    vote = sign_vote(KEY, vote_type, "chain", height, round_, block_hash)
    assert vote.validator == KEY.address
    verify_vote(vote, KEY.public_key)
    with pytest.raises(InvalidSignature, match="does not belong"):
        verify_vote(vote, OTHER.public_key)
    other_chain = dataclasses.replace(vote, chain_id="other-chain")
    with pytest.raises(InvalidSignature, match="does not verify"):
        verify_vote(other_chain, KEY.public_key)
    other_type = dataclasses.replace(
        vote, type=VoteType.PREVOTE if vote_type is VoteType.PRECOMMIT else VoteType.PRECOMMIT
    )
    with pytest.raises(InvalidSignature):
        verify_vote(other_type, KEY.public_key)


def test_vote_and_transaction_signatures_do_not_cross() -> None:
    vote = sign_vote(KEY, VoteType.PREVOTE, "chain", 1, 0, None)
    tx = make_tx()
    assert not verify_signature(KEY.public_key, tx.signing_bytes(), vote.signature)


def test_proposals_sign_and_verify() -> None:
    proposal = sign_proposal(KEY, "chain", 3, 2, 1, bytes([7]) * 32)
    verify_proposal(proposal, KEY.public_key)
    with pytest.raises(InvalidSignature):
        verify_proposal(dataclasses.replace(proposal, pol_round=None), KEY.public_key)
    with pytest.raises(InvalidSignature, match="does not belong"):
        verify_proposal(proposal, OTHER.public_key)
